"""The gateway's GET /metrics: every request by route template, method and status, the
inputs it logged, and each call to the predictor by outcome, read back as a scrape."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import respx

from gateway.main import create_app
from gateway.metrics import CALL_OUTCOMES
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL, make_settings
from tests.support.metrics import Scrape, scrape

FORWARD = {"data": "cat image data", "forward_to_model": True}
LOGGED_ONLY = {"data": "cat image data", "forward_to_model": False}
RESET = httpx.RemoteProtocolError("Server disconnected without sending a response.")
READY_BODY = {"status": "ready", "model_version": "v1"}
# The breaker never probes the predictor's /ready on its own during a test.
QUIET_BREAKER = {"BREAKER_OPEN_S": 60, "BREAKER_MAX_OPEN_S": 60, "BREAKER_READY_CHECK_S": 60}


@asynccontextmanager
async def gateway_over(
    handler: respx.Router | Any, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway (test settings, `overrides`) whose predictor is `handler`."""
    async_handler = handler.async_handler if isinstance(handler, respx.Router) else handler
    settings = make_settings(**(QUIET_BREAKER | overrides))
    app = create_app(settings, transport=httpx.MockTransport(async_handler))
    async with serve(app) as client:
        yield client


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=PREDICTOR_BASE_URL)


@pytest.fixture
async def gateway(router: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_over(router) as client:
        yield client


def requests_of(metrics: Scrape, route: str, method: str, status: int) -> float:
    return metrics.value("http_requests_total", route=route, method=method, status=str(status))


def calls_by_outcome(metrics: Scrape) -> dict[str, float]:
    """gateway_predictor_calls_total by outcome, the outcomes never seen left out."""
    return {
        sample.labels["outcome"]: sample.value
        for sample in metrics.matching("gateway_predictor_calls_total")
        if sample.value
    }


def timed_calls_by_outcome(metrics: Scrape) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for sample in metrics.matching("gateway_predictor_call_duration_seconds_count")
        if sample.value
    }


# HTTP requests, by route template, method and status.


async def test_answered_inputs_are_counted_by_route_method_and_status(
    gateway: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        assert (await gateway.post("/process", json=LOGGED_ONLY)).status_code == 200

    assert requests_of(await scrape(gateway), "/process", "POST", 200) == 3


async def test_a_bad_body_is_counted_as_a_422_of_its_route(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.post("/process", json={"data": 3})).status_code == 422

    metrics = await scrape(gateway)

    assert requests_of(metrics, "/process", "POST", 422) == 1
    assert metrics.total("http_requests_total", route="/process", status="200") == 0


async def test_an_unknown_path_is_counted_as_unmatched_not_by_its_path(
    gateway: httpx.AsyncClient,
) -> None:
    assert (await gateway.get("/no/such/page")).status_code == 404

    metrics = await scrape(gateway)

    assert requests_of(metrics, "unmatched", "GET", 404) == 1
    assert all(
        "/no/such" not in labels["route"] for labels in metrics.label_sets("http_requests_total")
    )


async def test_a_wrong_method_is_counted_as_a_405_of_the_route(
    gateway: httpx.AsyncClient,
) -> None:
    assert (await gateway.get("/process")).status_code == 405

    assert requests_of(await scrape(gateway), "/process", "GET", 405) == 1


async def test_a_body_over_the_byte_limit_is_counted_as_a_413_of_its_route(
    gateway: httpx.AsyncClient,
) -> None:
    # Refused for its declared Content-Length before routing, it still counts as /process's.
    response = await gateway.post(
        "/process", content=b"x" * 2_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413

    metrics = await scrape(gateway)

    assert metrics.total("http_requests_total", method="POST", status="413") == 1
    assert requests_of(metrics, "/process", "POST", 413) == 1


async def test_a_chunked_body_over_the_byte_limit_is_counted_as_a_413_of_its_route(
    gateway: httpx.AsyncClient,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    response = await gateway.post(
        "/process", content=body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413

    assert requests_of(await scrape(gateway), "/process", "POST", 413) == 1


async def test_health_and_ready_are_counted_under_their_routes(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    router.get("/ready").respond(200, json=READY_BODY)

    assert (await gateway.get("/health")).status_code == 200
    assert (await gateway.get("/ready")).status_code == 200
    router.get("/ready").respond(503, json={"detail": "Model is not loaded yet"})
    assert (await gateway.get("/ready")).status_code == 503

    metrics = await scrape(gateway)
    assert requests_of(metrics, "/health", "GET", 200) == 1
    assert requests_of(metrics, "/ready", "GET", 200) == 1
    assert requests_of(metrics, "/ready", "GET", 503) == 1


async def test_an_unknown_method_is_counted_as_other(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.request("BREW", "/process")).status_code == 405

    metrics = await scrape(gateway)

    assert requests_of(metrics, "/process", "other", 405) == 1
    assert all(labels["method"] != "BREW" for labels in metrics.label_sets("http_requests_total"))


async def test_every_request_is_timed_once_whatever_its_status(
    gateway: httpx.AsyncClient,
) -> None:
    await gateway.post("/process", json=LOGGED_ONLY)
    await gateway.post("/process", json=LOGGED_ONLY)
    await gateway.post("/process", json={"data": 3})

    metrics = await scrape(gateway)

    count = "http_request_duration_seconds_count"
    assert metrics.value(count, route="/process", method="POST") == 3
    assert metrics.value("http_request_duration_seconds_sum", route="/process", method="POST") > 0


async def test_fifty_unknown_paths_make_one_unmatched_series(gateway: httpx.AsyncClient) -> None:
    for number in range(50):
        assert (await gateway.get(f"/scan/{number}/admin.php")).status_code == 404

    metrics = await scrape(gateway)

    unmatched = [
        labels
        for labels in metrics.label_sets("http_requests_total")
        if labels["route"] != "/metrics"
    ]
    assert unmatched == [{"route": "unmatched", "method": "GET", "status": "404"}]
    assert requests_of(metrics, "unmatched", "GET", 404) == 50
    durations = metrics.label_sets("http_request_duration_seconds_count")
    assert [labels for labels in durations if labels["route"] != "/metrics"] == [
        {"route": "unmatched", "method": "GET"}
    ]


# Inputs logged.


async def test_logged_inputs_are_counted_by_whether_they_were_forwarded(
    gateway: httpx.AsyncClient, router: respx.Router
) -> None:
    router.post("/predict").respond(200, json=PREDICTION)
    for body in [LOGGED_ONLY] * 2 + [FORWARD] * 3:
        assert (await gateway.post("/process", json=body)).status_code == 200

    metrics = await scrape(gateway)

    assert metrics.value("gateway_inputs_logged_total", forward_to_model="false") == 2
    assert metrics.value("gateway_inputs_logged_total", forward_to_model="true") == 3


async def test_a_refused_input_is_not_counted_as_logged(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.post("/process", json={"data": "   "})).status_code == 422

    assert (await scrape(gateway)).total("gateway_inputs_logged_total") == 0


async def test_a_logged_only_input_counts_no_predictor_call(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/process", json=LOGGED_ONLY)

    assert calls_by_outcome(await scrape(gateway)) == {}


# Calls to the predictor, by outcome.


@pytest.mark.parametrize(
    ("predictor_answer", "status", "outcome"),
    [
        (httpx.Response(200, json=PREDICTION), 200, "ok"),
        (httpx.ConnectError("[Errno 111] Connection refused"), 503, "unavailable"),
        (httpx.Response(503, json={"detail": "Model is not loaded yet"}), 503, "unavailable"),
        (httpx.ReadTimeout("timed out"), 504, "timeout"),
        (httpx.Response(500, json={"detail": "Internal Server Error"}), 502, "bad_response"),
        (httpx.Response(200, content=b"<html>not json</html>"), 502, "bad_response"),
        (httpx.Response(200, json={"not": "a prediction"}), 502, "bad_response"),
    ],
    ids=["ok", "refused", "503", "read-timeout", "500", "garbage", "not-a-prediction"],
)
async def test_each_predictor_call_is_counted_and_timed_by_its_outcome(
    gateway: httpx.AsyncClient,
    router: respx.Router,
    predictor_answer: httpx.Response | Exception,
    status: int,
    outcome: str,
) -> None:
    router.post("/predict").mock(side_effect=[predictor_answer])

    response = await gateway.post("/process", json=FORWARD)

    assert response.status_code == status
    metrics = await scrape(gateway)
    assert calls_by_outcome(metrics) == {outcome: 1}
    assert timed_calls_by_outcome(metrics) == {outcome: 1}
    assert requests_of(metrics, "/process", "POST", status) == 1


async def test_every_outcome_is_listed_before_any_call(gateway: httpx.AsyncClient) -> None:
    metrics = await scrape(gateway)

    listed = {labels["outcome"] for labels in metrics.label_sets("gateway_predictor_calls_total")}
    assert listed == {*CALL_OUTCOMES, "retried"}


async def test_a_call_refused_by_the_open_breaker_is_counted_as_breaker_open(
    router: respx.Router,
) -> None:
    route = router.post("/predict").mock(side_effect=httpx.ConnectError("refused"))
    async with gateway_over(router, BREAKER_FAILURES=1) as gateway:
        first = await gateway.post("/process", json=FORWARD)
        refused = [await gateway.post("/process", json=FORWARD) for _ in range(2)]
        metrics = await scrape(gateway)

    assert [first.status_code, *(r.status_code for r in refused)] == [503, 503, 503]
    assert route.call_count == 1
    assert calls_by_outcome(metrics) == {"unavailable": 1, "breaker_open": 2}
    assert timed_calls_by_outcome(metrics) == {"unavailable": 1, "breaker_open": 2}


async def test_a_call_retried_on_a_new_connection_is_counted_as_retried_and_by_its_outcome(
    router: respx.Router,
) -> None:
    route = router.post("/predict").mock(side_effect=[RESET, httpx.Response(200, json=PREDICTION)])
    async with gateway_over(router, RETRY_BUDGET_RATIO=1.0) as gateway:
        response = await gateway.post("/process", json=FORWARD)
        metrics = await scrape(gateway)

    assert response.status_code == 200
    assert route.call_count == 2
    assert calls_by_outcome(metrics) == {"ok": 1, "retried": 1}
    # A retry is a second try of one call: timed once, by how the call ended.
    assert timed_calls_by_outcome(metrics) == {"ok": 1}


async def test_a_reset_its_retry_does_not_cure_is_counted_as_retried_and_unavailable(
    router: respx.Router,
) -> None:
    router.post("/predict").mock(side_effect=[RESET, RESET])
    async with gateway_over(router, RETRY_BUDGET_RATIO=1.0) as gateway:
        response = await gateway.post("/process", json=FORWARD)
        metrics = await scrape(gateway)

    assert response.status_code == 503
    assert calls_by_outcome(metrics) == {"unavailable": 1, "retried": 1}


async def test_a_reset_without_retry_budget_is_not_counted_as_retried(
    router: respx.Router,
) -> None:
    router.post("/predict").mock(side_effect=[RESET])
    async with gateway_over(router, RETRY_BUDGET_RATIO=0.0) as gateway:
        await gateway.post("/process", json=FORWARD)
        metrics = await scrape(gateway)

    assert calls_by_outcome(metrics) == {"unavailable": 1}


async def test_a_call_that_finds_no_free_slot_is_counted_as_shed() -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def held_predictor(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return httpx.Response(200, json=PREDICTION)

    async with gateway_over(
        held_predictor, SERVICE_B_MAX_IN_FLIGHT=1, SERVICE_B_QUEUE_TIMEOUT=0.05
    ) as gateway:
        holding = asyncio.ensure_future(gateway.post("/process", json=FORWARD))
        await asyncio.wait_for(arrived.wait(), 5)
        shed = await gateway.post("/process", json=FORWARD)
        release.set()
        held = await holding
        metrics = await scrape(gateway)

    assert (held.status_code, shed.status_code) == (200, 503)
    assert calls_by_outcome(metrics) == {"ok": 1, "shed": 1}


@pytest.mark.parametrize(
    ("predictor_status", "status", "outcome"),
    [(404, 404, "model_version_not_found"), (409, 409, "model_version_refused")],
)
async def test_a_call_for_a_version_the_predictor_cannot_serve_is_counted_by_why(
    gateway: httpx.AsyncClient,
    router: respx.Router,
    predictor_status: int,
    status: int,
    outcome: str,
) -> None:
    router.post("/models/v9/predict").respond(predictor_status, json={"detail": "no"})

    response = await gateway.post("/process", json=FORWARD | {"model_version": "v9"})

    assert response.status_code == status
    assert calls_by_outcome(await scrape(gateway)) == {outcome: 1}


# Switched off.


async def test_with_metrics_disabled_there_is_no_metrics_route_and_the_routes_still_work(
    router: respx.Router,
) -> None:
    router.post("/predict").respond(200, json=PREDICTION)
    async with gateway_over(router, METRICS_ENABLED=False) as gateway:
        metrics = await gateway.get("/metrics")
        forwarded = await gateway.post("/process", json=FORWARD)
        logged = await gateway.post("/process", json=LOGGED_ONLY)
        health = await gateway.get("/health")

    assert metrics.status_code == 404
    assert forwarded.status_code == 200
    assert forwarded.json()["model_prediction"] == PREDICTION
    assert logged.status_code == 200
    assert health.status_code == 200
