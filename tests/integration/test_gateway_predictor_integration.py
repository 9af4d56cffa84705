"""The gateway in front of the real predictor, both as processes on loopback ports."""

import json
from collections.abc import Iterator

import httpx
import pytest

from devkit.processes import ServiceProcess
from tests.support.services import Services

pytestmark = pytest.mark.integration

FORWARD = {"data": "my dog loves to fetch the ball", "forward_to_model": True}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


def assert_forwarding_works(http: httpx.Client, gateway: ServiceProcess) -> None:
    response = http.post(f"{gateway.url}/process", json=FORWARD)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Input logged successfully"
    prediction = body["model_prediction"]
    assert isinstance(prediction["prediction"]["class"], str)
    assert 0 <= prediction["prediction"]["confidence"] <= 1
    assert prediction["model_version"]


def test_gateway_forwards_to_predictor(services: Services, http: httpx.Client) -> None:
    services.start("service_b")
    gateway = services.start("service_a")

    assert_forwarding_works(http, gateway)


def test_stopped_predictor_gives_503_while_gateway_stays_healthy(
    services: Services, http: httpx.Client
) -> None:
    predictor = services.start("service_b")
    gateway = services.start("service_a")
    assert_forwarding_works(http, gateway)  # a pooled connection to B now exists

    predictor.kill()
    response = http.post(f"{gateway.url}/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert "retry-after" in response.headers
    assert http.get(f"{gateway.url}/health").status_code == 200
    assert http.get(f"{gateway.url}/ready").status_code == 503


def test_restarted_predictor_is_used_again_without_restarting_gateway(
    services: Services, http: httpx.Client
) -> None:
    predictor = services.start("service_b")
    gateway = services.start("service_a")
    assert_forwarding_works(http, gateway)
    predictor.kill()
    assert http.post(f"{gateway.url}/process", json=FORWARD).status_code == 503

    services.start("service_b")  # same port as before

    assert_forwarding_works(http, gateway)
    assert http.get(f"{gateway.url}/ready").status_code == 200


def json_lines(process: ServiceProcess) -> list[dict[str, object]]:
    """The JSON objects a service wrote to its log (one per line; other lines skipped)."""
    entries = []
    for line in process.log_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def test_one_request_id_follows_an_input_through_both_json_logs(
    services: Services, http: httpx.Client
) -> None:
    predictor = services.start("service_b", LOG_FORMAT="json")
    gateway = services.start("service_a", LOG_FORMAT="JSON")

    response = http.post(
        f"{gateway.url}/process", json=FORWARD, headers={"X-Request-ID": "follow-me-7"}
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "follow-me-7"
    gateway_lines = [e for e in json_lines(gateway) if e.get("request_id") == "follow-me-7"]
    predictor_lines = [e for e in json_lines(predictor) if e.get("request_id") == "follow-me-7"]
    assert any(e["logger"] == "gateway.inputs" for e in gateway_lines)
    assert any(e["logger"] == "uvicorn.access" for e in predictor_lines)
