"""The gateway in front of the real predictor, both as processes on loopback ports."""

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from service_processes import CONNECT_TIMEOUT, ServiceProcess

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


def test_gateway_forwards_to_predictor(
    services: Callable[[str], ServiceProcess], http: httpx.Client
) -> None:
    services("service_b")
    gateway = services("service_a")

    assert_forwarding_works(http, gateway)


def test_stopped_predictor_gives_503_quickly_while_gateway_stays_healthy(
    services: Callable[[str], ServiceProcess], http: httpx.Client
) -> None:
    predictor = services("service_b")
    gateway = services("service_a")
    assert_forwarding_works(http, gateway)  # a pooled connection to B now exists

    predictor.kill()
    started = time.monotonic()
    response = http.post(f"{gateway.url}/process", json=FORWARD)
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert "retry-after" in response.headers
    assert elapsed < CONNECT_TIMEOUT
    assert http.get(f"{gateway.url}/health").status_code == 200
    assert http.get(f"{gateway.url}/ready").status_code == 503


def test_restarted_predictor_is_used_again_without_restarting_gateway(
    services: Callable[[str], ServiceProcess], http: httpx.Client
) -> None:
    predictor = services("service_b")
    gateway = services("service_a")
    assert_forwarding_works(http, gateway)
    predictor.kill()
    assert http.post(f"{gateway.url}/process", json=FORWARD).status_code == 503

    services("service_b")  # same port as before

    assert_forwarding_works(http, gateway)
    assert http.get(f"{gateway.url}/ready").status_code == 200
