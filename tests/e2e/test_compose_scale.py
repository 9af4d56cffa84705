"""End to end: the default docker-compose.yml with `--scale service_b=3`, as the README
runs it: no host port for the predictor, three healthy replicas, the gateway's forwarded
answers spread over all three (their X-Served-By), Prometheus scraping each replica, and
test_services.sh passing with its direct predictor checks skipped."""

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit.ports import free_ports
from tests.e2e.conftest import running, stack_env
from tests.support.compose import OBSERVABILITY_PROFILE, ComposeStack
from tests.support.load import Answer, Load
from tests.support.prometheus import poll, target_health

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 3
SPREAD_TIMEOUT = 60.0
"""Seconds of load at most for every replica to have answered (the gateway re-resolves
service_b every few seconds, and balances by outstanding calls)."""
SCRAPE_TIMEOUT = 60.0
FORWARD = {"data": "a dog barking at the mailman", "forward_to_model": True}


@pytest.fixture(scope="module")
def scaled_stack(request: pytest.FixtureRequest, compose_cmd: list[str]) -> Iterator[ComposeStack]:
    """The default files with three predictors (and Prometheus), always torn down."""
    service_a_port, prometheus_port = free_ports(2)
    stack = ComposeStack(
        command=compose_cmd,
        project=f"e2escale{uuid.uuid4().hex[:10]}",
        service_a_port=service_a_port,
        service_b_port=0,  # not published by the default files
        prometheus_port=prometheus_port,
        profiles=(OBSERVABILITY_PROFILE,),
        env=stack_env(SERVICE_A_PORT=str(service_a_port), PROMETHEUS_PORT=str(prometheus_port)),
    )
    with running(stack, request, "scaled stack", "--scale", f"service_b={REPLICAS}"):
        yield stack


def replica_names(stack: ComposeStack) -> set[str]:
    """The predictor containers' host names: what REPLICA_NAME defaults to."""
    return set(stack.inspect_all("service_b", "{{.Config.Hostname}}"))


def test_service_b_has_no_host_port_without_the_direct_file(scaled_stack: ComposeStack) -> None:
    bindings = scaled_stack.inspect_all("service_b", "{{json .HostConfig.PortBindings}}")
    assert bindings == ["{}"] * REPLICAS


def test_three_predictor_replicas_run_healthy(scaled_stack: ComposeStack) -> None:
    health = scaled_stack.inspect_all("service_b", "{{.State.Health.Status}}")
    assert health == ["healthy"] * REPLICAS


def test_forwarded_answers_come_from_every_replica(scaled_stack: ComposeStack) -> None:
    expected = replica_names(scaled_stack)
    assert len(expected) == REPLICAS

    def every_replica_answered(answers: list[Answer]) -> bool:
        return {answer.served_by for answer in answers} >= expected

    url = f"{scaled_stack.service_a_url}/process"
    body = httpx.Request("POST", url, json=FORWARD).content
    with Load(url, body, concurrency=6) as load:
        load.wait_until(every_replica_answered, SPREAD_TIMEOUT)
    answers = load.answers
    assert answers
    assert {answer.outcome for answer in answers} == {200}
    assert {answer.served_by for answer in answers} == expected


def test_prometheus_scrapes_every_replica(
    scaled_stack: ComposeStack,
) -> None:
    every_up = {"service_a": ["up"], "service_b": ["up"] * REPLICAS}
    with httpx.Client(timeout=10, trust_env=False) as client:
        health = poll(
            lambda: target_health(client, scaled_stack.prometheus_url),
            lambda seen: seen == every_up,
            SCRAPE_TIMEOUT,
        )
    assert health == every_up


def test_test_services_script_passes_skipping_the_direct_checks(
    scaled_stack: ComposeStack,
) -> None:
    # SERVICE_B_URL empty, not unset: whatever listens on this host's port 8001 (make run)
    # must not be what the script checks.
    result = subprocess.run(
        [str(REPO_ROOT / "test_services.sh")],
        env={**os.environ, "SERVICE_A_URL": scaled_stack.service_a_url, "SERVICE_B_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP  service_b POST /predict" in result.stdout
    assert "PASS  service_a POST /process with forwarding" in result.stdout


def test_the_gateways_ready_lists_every_replica_ready(scaled_stack: ComposeStack) -> None:
    expected = {(name, "ready") for name in replica_names(scaled_stack)}

    def listed() -> set[tuple[str | None, str]]:
        body = client.get(f"{scaled_stack.service_a_url}/ready").json()
        return {(replica["name"], replica["state"]) for replica in body.get("replicas") or []}

    with httpx.Client(timeout=10, trust_env=False) as client:
        replicas = poll(listed, lambda seen: seen == expected, SCRAPE_TIMEOUT)
    assert replicas == expected
