"""The README's error mapping, row by row, on both services: every bad request gets the one
status the table gives it, in the documented body shape, and never a 500.

The gateway runs in front of a mocked predictor, the predictor with a fake pipeline; the
rows that depend on sockets (431, connection limits, timeouts) are in tests/integration.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from gateway.main import create_app as create_gateway
from predictor.main import create_app as create_predictor
from tests.support.asgi import serve
from tests.support.fake_pipeline import FakePipeline, fake_model
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL
from tests.support.gateway import make_settings as gateway_settings
from tests.support.metrics import scrape
from tests.support.predictor import predictor_settings

MAX_BODY_BYTES = 100_000  # room for the deep and the long bodies below
# The main route of each service, and the name of its text field.
ROUTES = {"gateway": ("/process", "data"), "predictor": ("/predict", "input")}


@pytest.fixture(params=["gateway", "predictor"])
async def service(
    request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """(name, client) of each service in turn, with MAX_BODY_BYTES 100,000."""
    name: str = request.param
    if name == "gateway":
        predictor = respx.Router(base_url=PREDICTOR_BASE_URL)
        predictor.post("/predict").respond(200, json=PREDICTION)
        app = create_gateway(
            gateway_settings(MAX_BODY_BYTES=MAX_BODY_BYTES),
            transport=httpx.MockTransport(predictor.async_handler),
        )
    else:
        settings = predictor_settings(
            tmp_path / "training.toml", tmp_path / "models", MAX_BODY_BYTES=MAX_BODY_BYTES
        )
        app = create_predictor(settings, model=fake_model(FakePipeline()))
    async with serve(app) as client:
        yield name, client


def post_raw(client: httpx.AsyncClient, path: str, content: bytes) -> Any:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def field_body(service: str, value: str) -> bytes:
    """A body whose text field holds `value`, which is already JSON (escapes included)."""
    return b'{"' + ROUTES[service][1].encode() + b'": ' + value.encode() + b"}"


NOT_STRICT_JSON = {
    "malformed": b'{"x": ',
    "utf-16": '{"data": "a cat", "input": "a cat"}'.encode("utf-16"),
    "utf-32": '{"data": "a cat", "input": "a cat"}'.encode("utf-32"),
    "latin-1 bytes": '{"data": "café", "input": "café"}'.encode("latin-1"),
    "byte order mark": b'\xef\xbb\xbf{"data": "a cat", "input": "a cat"}',
    "trailing garbage": b'{"data": "a cat", "input": "a cat"} x',
    "nested 10,000 deep": b'{"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    "nested 300 deep in the text field": b'{"data": ' + b"[" * 300 + b"]" * 300 + b"}",
    "5,000-digit number": b'{"x": ' + b"7" * 5_000 + b"}",
    "NaN": b'{"x": NaN}',
    "Infinity": b'{"x": Infinity}',
}


@pytest.mark.parametrize("body", NOT_STRICT_JSON.values(), ids=NOT_STRICT_JSON.keys())
async def test_body_that_is_not_strict_utf8_json_is_422_json_invalid(
    service: tuple[str, httpx.AsyncClient], body: bytes
) -> None:
    name, client = service
    response = await post_raw(client, ROUTES[name][0], body)

    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert (item["type"], item["loc"]) == ("json_invalid", ["body"])
    assert item["msg"].startswith("Invalid JSON: ")


@pytest.mark.parametrize(
    "escape",
    ['"\\ud800"', '"cat \\udfff"', '"\\ud83d cat"', '"\\ude00\\ud83d"'],
    ids=["lone high", "lone low", "high without low", "reversed pair"],
)
async def test_lone_surrogate_escape_is_422_naming_unicode(
    service: tuple[str, httpx.AsyncClient], escape: str
) -> None:
    name, client = service
    response = await post_raw(client, ROUTES[name][0], field_body(name, escape))

    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["type"] == "json_invalid"
    assert "valid Unicode" in item["msg"]


async def test_surrogate_pair_escape_is_a_valid_character(
    service: tuple[str, httpx.AsyncClient],
) -> None:
    name, client = service
    response = await post_raw(client, ROUTES[name][0], field_body(name, '"\\ud83d\\ude00 cat"'))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"data": "a cat", "input": "a cat"}', None),
        (b"data=a+cat", "application/x-www-form-urlencoded"),
        (b"a cat", "text/plain"),
    ],
    ids=["no content type", "form", "text"],
)
async def test_body_not_sent_as_json_is_422_saying_what_a_body_looks_like(
    service: tuple[str, httpx.AsyncClient], content: bytes, content_type: str | None
) -> None:
    name, client = service
    headers = {"Content-Type": content_type} if content_type else {}

    response = await client.post(ROUTES[name][0], content=content, headers=headers)

    assert response.status_code == 422, response.text
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("body", [b"[]", b'"a cat"', b"42", b"null"], ids=str)
async def test_json_that_is_not_an_object_is_422(
    service: tuple[str, httpx.AsyncClient], body: bytes
) -> None:
    name, client = service
    response = await post_raw(client, ROUTES[name][0], body)

    assert response.status_code == 422, response.text
    assert "JSON object" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("value", ["42", "null", '["a cat"]', "{}", "true"], ids=str)
async def test_text_field_that_is_not_a_string_is_422(
    service: tuple[str, httpx.AsyncClient], value: str
) -> None:
    name, client = service
    response = await post_raw(client, ROUTES[name][0], field_body(name, value))

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", ROUTES[name][1]]


async def test_body_over_max_body_bytes_is_413(service: tuple[str, httpx.AsyncClient]) -> None:
    name, client = service
    text = "x" * MAX_BODY_BYTES

    response = await post_raw(client, ROUTES[name][0], field_body(name, f'"{text}"'))

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("get", "/nowhere", 404), ("delete", "/health", 405), ("get", "/process-or-predict", 404)],
)
async def test_unknown_path_or_method_is_a_json_4xx(
    service: tuple[str, httpx.AsyncClient], method: str, path: str, status: int
) -> None:
    _, client = service
    response = await client.request(method, path)

    assert response.status_code == status
    assert list(response.json()) == ["detail"]


async def test_unexpected_errors_are_the_documented_json_500(tmp_path: Any) -> None:
    # A fake model: its metadata ({}) is no model's metadata, and it fails on one text.
    settings = predictor_settings(tmp_path / "t.toml", tmp_path / "m")
    app = create_predictor(settings, model=fake_model(FakePipeline(poison="a poisoned cat")))
    async with serve(app, raise_app_exceptions=False) as client:
        metadata = await client.get("/model")
        prediction = await client.post("/predict", json={"input": "a poisoned cat"})

    assert (metadata.status_code, metadata.json()) == (500, {"detail": "Internal server error"})
    assert (prediction.status_code, prediction.json()) == (500, {"detail": "Prediction failed"})


async def test_an_unexpected_error_is_counted_as_a_500_of_its_route_with_its_request_id(
    tmp_path: Any,
) -> None:
    settings = predictor_settings(tmp_path / "t.toml", tmp_path / "m")
    app = create_predictor(settings, model=fake_model(FakePipeline()))
    async with serve(app, raise_app_exceptions=False) as client:
        metadata = await client.get("/model", headers={"X-Request-ID": "broken-metadata"})
        metrics = await scrape(client)

    assert metadata.status_code == 500
    assert metadata.headers["X-Request-ID"] == "broken-metadata"
    assert metrics.value("http_requests_total", route="/model", method="GET", status="500") == 1
