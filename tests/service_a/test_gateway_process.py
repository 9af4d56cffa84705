"""POST /process: logging only, forwarding, and every way the predictor can fail."""

import json

import httpx
import pytest
import respx

from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, make_settings

FORWARD = {"data": "cat image data", "forward_to_model": True}
LOG_ONLY = {"data": "cat image data", "forward_to_model": False}


async def test_logging_only_answers_status_without_calling_predictor(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post("/process", json=LOG_ONLY)

    assert response.status_code == 200
    assert response.json() == {"status": "Input logged successfully"}
    assert predictor.calls.call_count == 0


async def test_forwarded_input_returns_predictor_body_unchanged(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    # Odd spacing, key order and an extra field must all survive byte for byte.
    body = b'{ "model_version":"v1", "prediction": {"confidence": 0.5, "class": "cat"},'
    body += b' "message": "Predicted class: cat with 50.0% confidence", "extra": [1, 2] }'
    predictor.post("/predict").respond(200, content=body, content_type="application/json")

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert (
        response.content
        == b'{"status":"Input logged successfully","model_prediction":' + body + b"}"
    )
    assert response.json()["model_prediction"] == json.loads(body)


async def test_forward_to_model_defaults_to_true(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.post("/predict").respond(200, json=PREDICTION)

    response = await client.post("/process", json={"data": "cat image data"})

    assert response.json() == {
        "status": "Input logged successfully",
        "model_prediction": PREDICTION,
    }
    assert route.call_count == 1


async def test_predictor_receives_the_input_as_json(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.post("/predict").respond(200, json=PREDICTION)

    await client.post("/process", json={"data": 'a "quoted"\nline ünïcode'})

    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"input": 'a "quoted"\nline ünïcode'}


async def test_unreachable_predictor_gives_503_with_retry_after(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/predict").mock(side_effect=httpx.ConnectError("connection refused"))

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert response.headers["retry-after"] == "7"


async def test_connect_timeout_gives_503(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/predict").mock(side_effect=httpx.ConnectTimeout("timed out"))

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503


async def test_slow_predictor_gives_504(client: httpx.AsyncClient, predictor: respx.Router) -> None:
    predictor.post("/predict").mock(side_effect=httpx.ReadTimeout("read timed out"))

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 504
    assert response.json() == {"detail": "Service B timed out"}


async def test_predictor_not_ready_503_gives_503(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/predict").respond(503, json={"detail": "Model is not loaded yet"})

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert response.headers["retry-after"] == "7"


BAD_ANSWERS = {
    "server error": httpx.Response(500, json={"detail": "Prediction failed"}),
    "bad gateway": httpx.Response(502, text="upstream exploded"),
    "client error": httpx.Response(422, json={"detail": [{"msg": "input is blank"}]}),
    "not json": httpx.Response(200, text="<html>hello</html>"),
    "empty body": httpx.Response(200, content=b""),
    "json array": httpx.Response(200, json=[PREDICTION]),
    "no prediction": httpx.Response(200, json={"message": "hi", "model_version": "v1"}),
    "class not a string": httpx.Response(
        200, json=PREDICTION | {"prediction": {"class": 3, "confidence": 0.5}}
    ),
    "confidence not a number": httpx.Response(
        200, json=PREDICTION | {"prediction": {"class": "dog", "confidence": "high"}}
    ),
    "no message": httpx.Response(
        200, json={"prediction": PREDICTION["prediction"], "model_version": "v1"}
    ),
    "no model version": httpx.Response(
        200, json={"prediction": PREDICTION["prediction"], "message": "m"}
    ),
    "invalid utf-8": httpx.Response(200, content=b'{"prediction": "\xff"}'),
    "trailing garbage": httpx.Response(200, content=json.dumps(PREDICTION).encode() + b"}"),
    "malformed status line": httpx.RemoteProtocolError("illegal status line: bytearray(b'x')"),
}
DROPPED_BEFORE_ANSWERING = {
    "disconnected": httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "reset while reading": httpx.ReadError("connection reset by peer"),
    "reset while writing": httpx.WriteError("broken pipe"),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
async def test_invalid_predictor_answer_gives_502(
    client: httpx.AsyncClient, predictor: respx.Router, answer: httpx.Response | Exception
) -> None:
    route = predictor.post("/predict")
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 502
    assert response.json() == {"detail": "Service B returned an invalid response"}


@pytest.mark.parametrize(
    "failure", DROPPED_BEFORE_ANSWERING.values(), ids=DROPPED_BEFORE_ANSWERING.keys()
)
async def test_connection_dropped_before_any_answer_gives_503(
    client: httpx.AsyncClient, predictor: respx.Router, failure: Exception
) -> None:
    # As Envoy's UC: the predictor went away, it did not answer badly.
    predictor.post("/predict").mock(side_effect=failure)

    response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}


INTERNAL_TEXT = "predictor-internal.svc.cluster.local:8001"
FAILURES = {
    "connect error": httpx.ConnectError(f"[Errno 111] Connect call failed {INTERNAL_TEXT}"),
    "read timeout": httpx.ReadTimeout(f"timed out reading from {INTERNAL_TEXT}"),
    "protocol error": httpx.RemoteProtocolError(f"illegal status line from {INTERNAL_TEXT}"),
    "error status": httpx.Response(500, text=f"Traceback (most recent call last): {INTERNAL_TEXT}"),
    "wrong shape": httpx.Response(200, json={"error": INTERNAL_TEXT}),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_error_bodies_carry_no_internals(
    client: httpx.AsyncClient, predictor: respx.Router, failure: httpx.Response | Exception
) -> None:
    route = predictor.post("/predict")
    if isinstance(failure, Exception):
        route.mock(side_effect=failure)
    else:
        route.mock(return_value=failure)

    response = await client.post("/process", json=FORWARD)

    assert response.status_code >= 500
    assert list(response.json()) == ["detail"]
    for secret in ("predictor-internal", "8001", "Errno", "Traceback", "predictor.test", "Error"):
        assert secret not in response.text


async def test_unexpected_error_gives_generic_500_without_internals() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"bug while talking to {INTERNAL_TEXT}")

    app = create_app(make_settings(), transport=httpx.MockTransport(explode))
    async with serve(app, raise_app_exceptions=False) as client:
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert "x-request-id" in response.headers
