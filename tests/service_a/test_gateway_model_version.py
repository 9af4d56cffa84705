"""POST /process with `model_version`: forwarded to that version's route of the predictor,
and a version the predictor lacks or refuses answered as such, not as a bad gateway."""

import json

import httpx
import pytest
import respx

from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, PREDICTOR_BASE_URL, make_settings

VERSIONED = {"data": "cat image data", "model_version": "v2"}


async def test_named_version_is_forwarded_to_its_predict_route(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    answer = {**PREDICTION, "model_version": "v2"}
    route = predictor.post("/models/v2/predict").respond(200, json=answer)

    response = await client.post("/process", json=VERSIONED)

    assert response.status_code == 200
    assert response.json()["model_prediction"] == answer
    assert json.loads(route.calls.last.request.content) == {"input": "cat image data"}


async def test_without_a_version_the_served_one_answers(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.post("/predict").respond(200, json=PREDICTION)

    await client.post("/process", json={"data": "cat image data", "model_version": None})

    assert route.call_count == 1


async def test_version_the_predictor_lacks_is_a_404_naming_it(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/models/v9/predict").respond(404, json={"detail": "Model version v9 not found"})

    response = await client.post("/process", json={**VERSIONED, "model_version": "v9"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Model version v9 not found on service B"}


async def test_version_the_predictor_refuses_is_a_409(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.post("/models/v3/predict").respond(409, json={"detail": "failed verification"})

    response = await client.post("/process", json={**VERSIONED, "model_version": "v3"})

    assert response.status_code == 409
    assert response.json() == {"detail": "Model version v3 cannot be served by service B"}


async def test_unknown_versions_do_not_open_the_breaker(predictor: respx.Router) -> None:
    predictor.post("/models/v9/predict").respond(404, json={"detail": "not found"})
    predictor.post("/predict").respond(200, json=PREDICTION)
    settings = make_settings(BREAKER_FAILURES=2)
    app = create_app(settings, transport=httpx.MockTransport(predictor.async_handler))
    async with serve(app) as client:
        for _ in range(5):
            await client.post("/process", json={**VERSIONED, "model_version": "v9"})
        response = await client.post("/process", json={"data": "cat image data"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "version", ["2", "v0", "v01", "V2", "v2/../predict", "", "v1 ", "v1234567890"]
)
async def test_malformed_version_is_a_422_and_nothing_is_forwarded(
    client: httpx.AsyncClient, predictor: respx.Router, version: str
) -> None:
    response = await client.post("/process", json={**VERSIONED, "model_version": version})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "model_version"]
    assert predictor.calls.call_count == 0


async def test_version_is_ignored_when_not_forwarding(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    response = await client.post("/process", json={**VERSIONED, "forward_to_model": False})

    assert response.json() == {"status": "Input logged successfully"}
    assert predictor.calls.call_count == 0


async def test_version_route_keeps_a_base_url_path() -> None:
    router = respx.Router(base_url=PREDICTOR_BASE_URL + "/b", assert_all_called=True)
    route = router.post("/models/v2/predict").respond(200, json=PREDICTION)
    settings = make_settings(SERVICE_B_URL=PREDICTOR_BASE_URL + "/b/")
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))
    async with serve(app) as client:
        response = await client.post("/process", json=VERSIONED)

    assert response.status_code == 200
    assert route.call_count == 1


async def test_a_busy_version_is_a_503_that_does_not_open_the_breaker(
    predictor: respx.Router,
) -> None:
    predictor.post("/models/v7/predict").respond(
        503, json={"detail": "busy"}, headers={"Retry-After": "1"}
    )
    predictor.post("/predict").respond(200, json=PREDICTION)
    settings = make_settings(BREAKER_FAILURES=2)
    app = create_app(settings, transport=httpx.MockTransport(predictor.async_handler))
    async with serve(app) as client:
        busy = [
            await client.post("/process", json={**VERSIONED, "model_version": "v7"})
            for _ in range(5)
        ]
        response = await client.post("/process", json={"data": "cat image data"})

    assert {answer.status_code for answer in busy} == {503}
    assert response.status_code == 200
