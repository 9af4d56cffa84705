"""X-Request-ID: accepted or generated, returned to the client, sent to the predictor."""

import re

import httpx
import pytest
import respx

from tests.support.gateway import PREDICTION

FORWARD = {"data": "cat image data", "forward_to_model": True}


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_each_request_gets_its_own_generated_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "req-42.a_b:c"})

    assert response.headers["x-request-id"] == "req-42.a_b:c"


@pytest.mark.parametrize(
    "unsafe_id",
    [b"", b"a" * 65, b"has space", b"semi;colon", b"back\\slash", "ünïcode".encode()],
    ids=["empty", "too long", "space", "semicolon", "backslash", "non-ascii"],
)
async def test_unsafe_client_request_id_is_replaced(
    client: httpx.AsyncClient, unsafe_id: bytes
) -> None:
    response = await client.get("/health", headers=[(b"X-Request-ID", unsafe_id)])

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_client_request_id_is_sent_to_predictor(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.post("/predict").respond(200, json=PREDICTION)

    await client.post("/process", json=FORWARD, headers={"X-Request-ID": "trace-me-1"})

    assert route.calls.last.request.headers["x-request-id"] == "trace-me-1"


async def test_generated_request_id_is_sent_to_predictor(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.post("/predict").respond(200, json=PREDICTION)

    response = await client.post("/process", json=FORWARD)

    sent = route.calls.last.request.headers["x-request-id"]
    assert sent == response.headers["x-request-id"]


async def test_error_responses_carry_the_request_id(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/predict").mock(side_effect=httpx.ConnectError("refused"))

    response = await client.post("/process", json=FORWARD, headers={"X-Request-ID": "oops-1"})

    assert response.status_code == 503
    assert response.headers["x-request-id"] == "oops-1"


async def test_validation_and_size_errors_carry_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    invalid = await client.post("/process", json={}, headers={"X-Request-ID": "bad-1"})
    too_large = await client.post(
        "/process", json={"data": "x" * 2_000}, headers={"X-Request-ID": "big-1"}
    )

    assert (invalid.status_code, invalid.headers["x-request-id"]) == (422, "bad-1")
    assert (too_large.status_code, too_large.headers["x-request-id"]) == (413, "big-1")
