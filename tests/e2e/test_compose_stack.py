"""End to end: the docker-compose stack, built and run as a user would, probed from outside.

Traffic goes only to the published ports on 127.0.0.1 and to the project's containers.
"""

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.compose import E2E_ADMIN_TOKEN, ComposeStack

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("service_a", "service_b")
CONTAINERS = (*SERVICES, "prometheus")
"""Every container of the stack, the observability profile's included."""
RECOVERY_TIMEOUT = 120.0
TRAINING_TIMEOUT = 180.0


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def forward(client: httpx.Client, stack: ComposeStack) -> httpx.Response:
    return client.post(
        f"{stack.service_a_url}/process",
        json={"data": "a dog barking at the mailman", "forward_to_model": True},
    )


def poll_status(
    client: httpx.Client, stack: ComposeStack, status: int, timeout: float
) -> httpx.Response | None:
    """Forward until the gateway answers with `status`; the last response either way."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = forward(client, stack)
        except httpx.TransportError:
            response = None
        if (response is not None and response.status_code == status) or (
            time.monotonic() >= deadline
        ):
            return response
        time.sleep(1)


def test_both_containers_are_healthy(compose_stack: ComposeStack) -> None:
    assert {service: compose_stack.health(service) for service in SERVICES} == {
        "service_a": "healthy",
        "service_b": "healthy",
    }


def test_test_services_script_passes(compose_stack: ComposeStack) -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "test_services.sh")],
        env={
            **os.environ,
            "SERVICE_A_URL": compose_stack.service_a_url,
            "SERVICE_B_URL": compose_stack.service_b_url,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", CONTAINERS)
def test_container_runs_as_non_root(compose_stack: ComposeStack, service: str) -> None:
    result = compose_stack.exec(service, "id", "-u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() != "0"
    assert compose_stack.inspect(service, "{{.Config.User}}") not in ("", "0", "root")


def test_service_b_outage_gives_503_then_forwarding_recovers(
    compose_stack: ComposeStack, client: httpx.Client
) -> None:
    compose_stack.compose("stop", "service_b")
    # SIGTERM within stop_grace_period: a graceful shutdown, not a kill.
    assert compose_stack.inspect("service_b", "{{.State.ExitCode}}") == "0"
    try:
        outage = poll_status(client, compose_stack, 503, timeout=30)
        assert outage is not None
        assert outage.status_code == 503
        assert outage.json() == {"detail": "Service B is unavailable"}
        logged = client.post(
            f"{compose_stack.service_a_url}/process",
            json={"data": "still logged", "forward_to_model": False},
        )
        assert logged.status_code == 200
    finally:
        compose_stack.compose("start", "service_b")

    recovered = poll_status(client, compose_stack, 200, timeout=RECOVERY_TIMEOUT)
    assert recovered is not None
    assert recovered.status_code == 200
    assert recovered.json()["model_prediction"]["model_version"].startswith("v")
    assert compose_stack.health("service_a") == "healthy"


def served_version(client: httpx.Client, stack: ComposeStack) -> str:
    response = forward(client, stack)
    assert response.status_code == 200, response.text
    version: str = response.json()["model_prediction"]["model_version"]
    return version


def poll_served_version(
    client: httpx.Client, stack: ComposeStack, version: str, timeout: float
) -> str:
    """Forward until the gateway's answers carry `version`; the last version seen."""
    deadline = time.monotonic() + timeout
    while (seen := served_version(client, stack)) != version and time.monotonic() < deadline:
        time.sleep(0.5)
    return seen


def test_a_trained_version_is_activated_then_rolled_back_through_the_stack(
    compose_stack: ComposeStack, client: httpx.Client
) -> None:
    admin = {"Authorization": f"Bearer {E2E_ADMIN_TOKEN}"}
    models = client.get(f"{compose_stack.service_b_url}/models", headers=admin).json()
    before = models["active_version"]
    assert client.get(f"{compose_stack.service_b_url}/models").status_code == 401

    queued = client.post(
        f"{compose_stack.service_b_url}/train",
        headers=admin,
        json={"params": {"C": 5.0}, "activate": "always"},
    )
    assert queued.status_code == 202, queued.text
    job_url = compose_stack.service_b_url + queued.headers["Location"]
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while (job := client.get(job_url, headers=admin).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(1)
    assert job["status"] == "succeeded", job
    trained = job["version"]
    assert job["activation"]["activated"] is True

    assert poll_served_version(client, compose_stack, trained, timeout=10) == trained
    pinned = client.post(
        f"{compose_stack.service_a_url}/process",
        json={"data": "a dog barking at the mailman", "model_version": before},
    )
    assert pinned.json()["model_prediction"]["model_version"] == before

    rollback = client.post(f"{compose_stack.service_b_url}/models/{before}/activate", headers=admin)
    assert rollback.status_code == 200, rollback.text
    assert rollback.json()["previous_version"] == trained
    assert poll_served_version(client, compose_stack, before, timeout=10) == before
