"""GET /, /health (liveness, never calls B) and /ready (B's readiness)."""

import httpx
import pytest
import respx

from tests.support.gateway import replica_status


async def test_root_names_the_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.json() == {"service": "service_a", "status": "running"}


async def test_health_is_ok_while_predictor_is_down(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    # No route is mocked: any call to the predictor would fail the request.
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert predictor.calls.call_count == 0


async def test_ready_when_predictor_is_ready(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    route = predictor.get("/ready").respond(200, json={"status": "ready", "model_version": "v1"})

    response = await client.get("/ready", headers={"X-Request-ID": "ready-check"})

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "service_b": "ready",
        "breaker": "closed",
        "replicas": [replica_status("ready")],
    }
    assert route.calls.last.request.headers["x-request-id"] == "ready-check"


async def test_not_ready_when_predictor_is_not_ready(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.get("/ready").respond(503, json={"detail": "Model is not loaded yet"})

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "closed",
        "replicas": [replica_status("not_ready")],
    }
    assert response.headers["retry-after"] == "7"


async def test_not_ready_when_predictor_is_unreachable(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.get("/ready").mock(side_effect=httpx.ConnectError("refused 10.0.0.7:8001"))

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "closed",
        "replicas": [replica_status("not_ready")],
    }


async def test_not_ready_when_predictor_readiness_times_out(
    client: httpx.AsyncClient, predictor: respx.Router
) -> None:
    predictor.get("/ready").mock(side_effect=httpx.ReadTimeout("slow"))

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "closed",
        "replicas": [replica_status("not_ready")],
    }


@pytest.mark.parametrize(
    "body",
    [b"OK", b'{"status": "ok"}', b'{"status": "ready"}', b"<html>welcome</html>"],
    ids=["text", "other status", "no model version", "html"],
)
async def test_not_ready_when_a_200_is_not_a_predictors_readiness(
    client: httpx.AsyncClient, predictor: respx.Router, body: bytes
) -> None:
    # E.g. SERVICE_B_URL points at another server: forwarding could not work.
    predictor.get("/ready").respond(200, content=body)

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "closed",
        "replicas": [replica_status("not_ready")],
    }
