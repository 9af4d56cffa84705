"""W3C trace context from a client through the gateway to the predictor, in-process: the
OpenTelemetry spans both services record, the `traceparent` the gateway sends, and the
trace id in both services' log lines."""

import asyncio
import contextvars
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import Settings as GatewaySettings
from gateway.main import create_app as create_gateway
from predictor.config import Settings as PredictorSettings
from predictor.main import create_app as create_predictor
from tests.support.asgi import serve
from tests.support.fake_pipeline import FakePipeline, fake_model
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL, make_settings
from tests.support.logs import captured_log
from tests.support.predictor import predictor_settings
from tests.support.tiny_dataset import write_tiny_training_dir

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
FORWARD = {"data": "my cat purrs", "forward_to_model": True}
POISON = "this text breaks the model"
SENT_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")
# `time LEVEL logger [request-id trace-id] message`; a traceback's lines do not match.
TEXT_LINE = re.compile(r" (?P<logger>[\w.]+) \[(?P<request_id>\S+) (?P<trace_id>\S+)\] ")


class SpanRecorder:
    """A tracer provider whose finished spans are kept in memory, for one service."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def one_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]


@dataclass(frozen=True)
class Linked:
    """The gateway in front of the predictor, and the spans each recorded."""

    client: httpx.AsyncClient
    gateway_spans: SpanRecorder
    predictor_spans: SpanRecorder


def isolated(app: ASGIApp) -> ASGIApp:
    """`app`, each call run in an empty context, as if in a process of its own: nothing of
    the gateway's request (its request id, its trace) reaches the predictor but its headers."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        async def run() -> None:
            await app(scope, receive, send)

        await asyncio.create_task(run(), context=contextvars.Context())

    return call


@pytest.fixture
def predictor_config(tmp_path: Path) -> PredictorSettings:
    """The predictor's test settings: the tiny recipe and an empty models folder."""
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    models = tmp_path / "models"
    models.mkdir()
    return predictor_settings(write_tiny_training_dir(recipe), models)


@asynccontextmanager
async def linked_services(
    predictor_config: PredictorSettings, gateway_config: GatewaySettings | None = None
) -> AsyncIterator[Linked]:
    """The gateway, its transport to the predictor an ASGI transport over the predictor
    app (serving a fake model that fails on POISON), both recording their spans."""
    gateway_spans, predictor_spans = SpanRecorder(), SpanRecorder()
    predictor_app = create_predictor(
        predictor_config,
        model=fake_model(FakePipeline(poison=POISON)),
        tracer_provider=predictor_spans.provider,
    )
    async with LifespanManager(predictor_app) as predictor:
        gateway_app = create_gateway(
            gateway_config or make_settings(),
            transport=httpx.ASGITransport(isolated(predictor.app)),
            tracer_provider=gateway_spans.provider,
        )
        async with serve(gateway_app) as client:
            yield Linked(client, gateway_spans, predictor_spans)


@pytest.fixture
async def linked(predictor_config: PredictorSettings) -> AsyncIterator[Linked]:
    async with linked_services(predictor_config) as services:
        yield services


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=PREDICTOR_BASE_URL)


@asynccontextmanager
async def gateway_over(router: respx.Router, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with no tracer provider (no exporter), in front of a mocked predictor."""
    app = create_gateway(
        make_settings(**overrides), transport=httpx.MockTransport(router.async_handler)
    )
    async with serve(app) as client:
        yield client


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format_trace_id(span.context.trace_id)


def id_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format_span_id(span.context.span_id)


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else format_span_id(span.parent.span_id)


OPEN_GATEWAY_LOGGER = "gateway.admission"


def text_lines(log: str) -> list[dict[str, str]]:
    """logger, request_id and trace_id of each log line of a request (a traceback's lines
    and the start-up warning of an open gateway left out)."""
    lines = (match.groupdict() for line in log.splitlines() if (match := TEXT_LINE.search(line)))
    return [line for line in lines if line["logger"] != OPEN_GATEWAY_LOGGER]


@pytest.fixture
def both_logs() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    with captured_log("gateway") as gateway, captured_log("predictor") as predictor:
        yield gateway, predictor


# Spans.


async def test_one_trace_holds_the_gateway_span_and_the_predictor_span_under_it(
    linked: Linked,
) -> None:
    response = await linked.client.post("/process", json=FORWARD)

    assert response.status_code == 200
    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert (gateway.name, predictor.name) == ("POST /process", "POST /predict")
    assert gateway.kind is predictor.kind is SpanKind.SERVER
    assert trace_of(predictor) == trace_of(gateway)
    assert parent_of(predictor) == id_of(gateway)
    assert gateway.parent is None  # the client sent no traceparent: the trace starts here


async def test_spans_carry_the_route_template_and_status(linked: Linked) -> None:
    await linked.client.post("/process", json=FORWARD)

    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert gateway.attributes is not None and predictor.attributes is not None
    assert gateway.attributes["http.route"] == "/process"
    assert gateway.attributes["http.request.method"] == "POST"
    assert gateway.attributes["http.response.status_code"] == 200
    assert predictor.attributes["http.route"] == "/predict"
    assert predictor.status.status_code is StatusCode.UNSET


async def test_a_span_is_named_after_the_route_template_not_the_raw_path(linked: Linked) -> None:
    response = await linked.client.post("/process", json=FORWARD | {"model_version": "v7"})

    assert response.status_code == 404  # the predictor has no v7
    predictor = linked.predictor_spans.one_span()
    assert predictor.name == "POST /models/{version}/predict"
    assert parent_of(predictor) == id_of(linked.gateway_spans.one_span())


async def test_a_failed_prediction_marks_both_spans_as_errors(linked: Linked) -> None:
    response = await linked.client.post("/process", json={"data": POISON})

    assert response.status_code == 502
    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert gateway.status.status_code is StatusCode.ERROR
    assert predictor.status.status_code is StatusCode.ERROR
    assert predictor.attributes is not None
    assert predictor.attributes["http.response.status_code"] == 500


async def test_the_readiness_check_is_traced_into_the_predictor(linked: Linked) -> None:
    response = await linked.client.get("/ready")

    assert response.status_code == 200
    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert (gateway.name, predictor.name) == ("GET /ready", "GET /ready")
    assert parent_of(predictor) == id_of(gateway)


async def test_a_client_traceparent_is_continued_through_both_services(linked: Linked) -> None:
    response = await linked.client.post(
        "/process", json=FORWARD, headers={"traceparent": TRACEPARENT}
    )

    assert response.status_code == 200
    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert trace_of(gateway) == trace_of(predictor) == TRACE_ID
    assert parent_of(gateway) == CLIENT_SPAN_ID
    assert gateway.parent is not None and gateway.parent.is_remote
    assert parent_of(predictor) == id_of(gateway)
    assert id_of(gateway) != CLIENT_SPAN_ID


@pytest.mark.parametrize(
    "traceparent",
    [
        f"ff-{TRACE_ID}-{CLIENT_SPAN_ID}-01",
        f"00-{'0' * 32}-{CLIENT_SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-{CLIENT_SPAN_ID.upper()}-01",
        f"00-{TRACE_ID[:-1]}-{CLIENT_SPAN_ID}-01",
        f"00-{TRACE_ID}-{CLIENT_SPAN_ID}0-01",
        f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-1",
        f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01-extra",
        f"00_{TRACE_ID}_{CLIENT_SPAN_ID}_01",
        "not a traceparent",
    ],
    ids=[
        "version-ff",
        "zero-trace-id",
        "zero-span-id",
        "upper-case",
        "short-trace-id",
        "long-span-id",
        "short-flags",
        "trailing-data",
        "wrong-separator",
        "garbage",
    ],
)
async def test_an_invalid_traceparent_starts_a_new_trace(linked: Linked, traceparent: str) -> None:
    response = await linked.client.post(
        "/process", json=FORWARD, headers={"traceparent": traceparent}
    )

    assert response.status_code == 200
    gateway, predictor = linked.gateway_spans.one_span(), linked.predictor_spans.one_span()
    assert gateway.parent is None
    assert trace_of(gateway) not in (TRACE_ID, "0" * 32)
    assert trace_of(predictor) == trace_of(gateway)
    assert parent_of(predictor) == id_of(gateway)


async def test_each_request_without_traceparent_gets_its_own_trace(linked: Linked) -> None:
    for _ in range(3):
        await linked.client.post("/process", json=FORWARD)

    traces = {trace_of(span) for span in linked.gateway_spans.spans()}
    assert len(traces) == 3
    assert {trace_of(span) for span in linked.predictor_spans.spans()} == traces


async def test_with_tracing_disabled_no_span_is_recorded(
    predictor_config: PredictorSettings,
) -> None:
    async with linked_services(predictor_config, make_settings(TRACING_ENABLED=False)) as linked:
        response = await linked.client.post(
            "/process", json=FORWARD, headers={"traceparent": TRACEPARENT}
        )
        gateway_spans = linked.gateway_spans.spans()
        predictor = linked.predictor_spans.one_span()

    assert response.status_code == 200
    assert gateway_spans == []
    # The predictor, still tracing, got no traceparent: its trace is its own.
    assert predictor.parent is None
    assert trace_of(predictor) != TRACE_ID


# The traceparent sent to the predictor without an exporter.


async def test_without_an_exporter_the_client_trace_is_passed_on_with_the_request_id(
    router: respx.Router,
) -> None:
    route = router.post("/predict").respond(200, json=PREDICTION)
    async with gateway_over(router) as gateway:
        response = await gateway.post(
            "/process",
            json=FORWARD,
            headers={"traceparent": TRACEPARENT, "X-Request-ID": "trace-req-1"},
        )

    assert response.status_code == 200
    sent = route.calls.last.request.headers
    match = SENT_TRACEPARENT.fullmatch(sent["traceparent"])
    assert match is not None, sent["traceparent"]
    assert match.group(1) == TRACE_ID
    assert match.group(2) not in (CLIENT_SPAN_ID, "0" * 16)  # the gateway's own span
    assert sent["x-request-id"] == response.headers["x-request-id"] == "trace-req-1"


async def test_without_an_exporter_a_new_trace_is_started_and_passed_on(
    router: respx.Router,
) -> None:
    route = router.post("/predict").respond(200, json=PREDICTION)
    with captured_log("gateway") as log:
        async with gateway_over(router) as gateway:
            response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == 200
    match = SENT_TRACEPARENT.fullmatch(route.calls.last.request.headers["traceparent"])
    assert match is not None
    trace_id, span_id = match.groups()
    assert trace_id != "0" * 32 and span_id != "0" * 16
    assert {line["trace_id"] for line in text_lines(log.getvalue())} == {trace_id}
    request_ids = {line["request_id"] for line in text_lines(log.getvalue())}
    assert request_ids == {response.headers["x-request-id"]}


async def test_without_an_exporter_each_call_is_a_span_of_its_own(router: respx.Router) -> None:
    route = router.post("/predict").respond(200, json=PREDICTION)
    async with gateway_over(router) as gateway:
        for _ in range(2):
            await gateway.post("/process", json=FORWARD, headers={"traceparent": TRACEPARENT})

    sent = [SENT_TRACEPARENT.fullmatch(call.request.headers["traceparent"]) for call in route.calls]
    assert all(match is not None for match in sent)
    assert {match.group(1) for match in sent if match} == {TRACE_ID}
    assert len({match.group(2) for match in sent if match}) == 2


async def test_the_readiness_check_passes_the_trace_on(router: respx.Router) -> None:
    route = router.get("/ready").respond(200, json={"status": "ready", "model_version": "v1"})
    async with gateway_over(router) as gateway:
        response = await gateway.get("/ready", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 200
    match = SENT_TRACEPARENT.fullmatch(route.calls.last.request.headers["traceparent"])
    assert match is not None and match.group(1) == TRACE_ID


async def test_with_tracing_disabled_no_traceparent_is_sent_and_logs_show_no_trace_id(
    router: respx.Router,
) -> None:
    route = router.post("/predict").respond(200, json=PREDICTION)
    with captured_log("gateway") as log:
        async with gateway_over(router, TRACING_ENABLED=False) as gateway:
            response = await gateway.post(
                "/process",
                json=FORWARD,
                headers={"traceparent": TRACEPARENT, "X-Request-ID": "untraced-1"},
            )

    assert response.status_code == 200
    sent = route.calls.last.request.headers
    assert "traceparent" not in sent
    assert sent["x-request-id"] == "untraced-1"
    lines = text_lines(log.getvalue())
    assert lines and all(line["trace_id"] == "-" for line in lines)
    assert all(line["request_id"] == "untraced-1" for line in lines)


async def test_with_tracing_disabled_json_logs_show_no_trace_id(router: respx.Router) -> None:
    with captured_log("gateway", "json") as log:
        async with gateway_over(router, TRACING_ENABLED=False) as gateway:
            await gateway.post(
                "/process",
                json={"data": "a cat", "forward_to_model": False},
                headers={"traceparent": TRACEPARENT},
            )

    entries = [json.loads(line) for line in log.getvalue().splitlines()]
    assert entries and all(entry["trace_id"] == "-" for entry in entries)


# The trace id in both services' log lines.


async def test_both_services_log_the_client_trace_id_in_text_lines(
    linked: Linked, both_logs: tuple[io.StringIO, io.StringIO]
) -> None:
    gateway_log, predictor_log = both_logs
    # The poison text makes the predictor log a line (its failure) while serving the request.
    response = await linked.client.post(
        "/process", json={"data": POISON}, headers={"traceparent": TRACEPARENT}
    )

    assert response.status_code == 502
    gateway_lines = text_lines(gateway_log.getvalue())
    predictor_lines = text_lines(predictor_log.getvalue())
    assert {line["logger"] for line in gateway_lines} >= {"gateway.inputs"}
    assert {line["logger"] for line in predictor_lines} == {"predictor.prediction"}
    request_id = response.headers["x-request-id"]
    assert {(line["request_id"], line["trace_id"]) for line in gateway_lines + predictor_lines} == {
        (request_id, TRACE_ID)
    }


async def test_both_services_log_the_trace_id_of_their_spans_in_json_lines(
    linked: Linked,
) -> None:
    with (
        captured_log("gateway", "json") as gateway_log,
        captured_log("predictor", "json") as predictor_log,
    ):
        response = await linked.client.post("/process", json={"data": POISON})

    assert response.status_code == 502
    gateway_entries = [json.loads(line) for line in gateway_log.getvalue().splitlines()]
    predictor_entries = [json.loads(line) for line in predictor_log.getvalue().splitlines()]
    assert gateway_entries and predictor_entries
    # A new trace (no client traceparent): the one both spans are in.
    span_trace = trace_of(linked.gateway_spans.one_span())
    assert trace_of(linked.predictor_spans.one_span()) == span_trace
    assert {entry["trace_id"] for entry in gateway_entries + predictor_entries} == {span_trace}
