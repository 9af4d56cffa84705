"""End to end: deploy/swarm/stack.yml on a single-node Docker Swarm, through
scripts/swarm_deploy.sh and scripts/swarm_remove.sh as a user runs them: every task
running, the gateway's forwarded answers spread over the three predictors (X-Served-By),
and a rolling update of the predictor under load that fails no request and replaces every
task. The engine is left in the swarm state it was found in (the scripts leave a swarm
they created), also on failure."""

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devkit.ports import free_ports
from tests.support.compose import wait_until_200
from tests.support.load import Load

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_TIMEOUT = 600.0
"""Seconds for swarm_deploy.sh: the image builds (cached after the compose tests) and
every task running."""
UPDATE_TIMEOUT = 180.0
"""Seconds for the rolling update of three predictors to converge."""
PREDICTORS = 3
FORWARD = {"data": "a small bird that sings", "forward_to_model": True}


@dataclass(frozen=True)
class SwarmStack:
    name: str
    gateway_url: str

    @property
    def predictor(self) -> str:
        return f"{self.name}_service_b"


def docker(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stdout}\n{result.stderr}")
    return result.stdout


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def network_names() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").split())


def running_tasks(service: str) -> dict[str, str]:
    """The service's tasks that should run: their id and their name as REPLICA_NAME's
    template ({{.Task.Name}}) spells it, `<service>.<slot>.<task id>`."""
    lines = docker(
        "service", "ps", service, "--no-trunc", "--filter", "desired-state=running",
        "--format", "{{.ID}} {{.Name}}",
    ).split()  # fmt: skip
    ids, names = lines[0::2], lines[1::2]
    return {task: f"{name}.{task}" for task, name in zip(ids, names, strict=True)}


@pytest.fixture(scope="module")
def swarm_stack(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SwarmStack]:
    """The stack deployed by swarm_deploy.sh; swarm_remove.sh always runs after, and the
    swarm is left as found."""
    state_before = swarm_state()
    networks_before = network_names()
    if state_before not in ("inactive", "active"):
        pytest.fail(f"the engine's swarm is {state_before!r}: neither in one nor out of one")
    (port,) = free_ports(1)
    name = f"e2eswarm{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "STACK_NAME": name,
        "SERVICE_A_PORT": str(port),
        "SWARM_STATE_FILE": str(tmp_path_factory.mktemp("swarm") / "initialised"),
        "SWARM_WAIT_S": "300",
        "REMOVE_VOLUMES": "1",
    }
    try:
        deploy = subprocess.run(
            [str(REPO_ROOT / "scripts" / "swarm_deploy.sh")],
            env=env, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT,
        )  # fmt: skip
        print(deploy.stdout)
        if deploy.returncode != 0:
            pytest.fail(
                f"swarm_deploy.sh exited {deploy.returncode}:\n{deploy.stdout}\n{deploy.stderr}"
            )
        yield SwarmStack(name=name, gateway_url=f"http://127.0.0.1:{port}")
    finally:
        remove = subprocess.run(
            [str(REPO_ROOT / "scripts" / "swarm_remove.sh")],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        print(remove.stdout, remove.stderr)
        assert remove.returncode == 0, remove.stdout + remove.stderr
        assert swarm_state() == state_before
        assert network_names() == networks_before


def wait_gateway_ready(stack: SwarmStack, timeout: float = 120) -> None:
    wait_until_200(f"{stack.gateway_url}/ready", "gateway", timeout)


def update_state(service: str, timeout: float = UPDATE_TIMEOUT) -> str:
    """The service's update state once it is no longer in progress (`docker service update
    --detach=false` returns when the tasks converged, before the monitor period ends)."""
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(docker("service", "inspect", service))[0].get("UpdateStatus", {})
        state: str = status.get("State", "")
        if state not in ("updating", "rollback_started") or time.monotonic() > deadline:
            return state
        time.sleep(1)


def test_a_rolling_update_of_the_predictor_under_load_fails_no_request(
    swarm_stack: SwarmStack,
) -> None:
    wait_gateway_ready(swarm_stack)
    before = running_tasks(swarm_stack.predictor)
    assert len(before) == PREDICTORS

    url = f"{swarm_stack.gateway_url}/process"
    body = httpx.Request("POST", url, json=FORWARD).content
    with Load(url, body, concurrency=4, pause_s=0.02) as load:
        # Every old task answers before the update starts.
        spread = load.wait_until(
            lambda answers: {a.served_by for a in answers} >= set(before.values()), 60
        )
        docker(
            "service", "update", "--force", "--detach=false", "--quiet", swarm_stack.predictor,
            timeout=UPDATE_TIMEOUT,
        )  # fmt: skip
        state = update_state(swarm_stack.predictor)
        converged_at = time.monotonic()
        after = running_tasks(swarm_stack.predictor)
        # And every new task answers once it has converged.
        load.wait_until(
            lambda answers: (
                {a.served_by for a in answers if a.sent_at > converged_at} >= set(after.values())
            ),
            60,
        )
    answers = load.answers

    assert spread, f"not every predictor answered: {sorted({str(a.served_by) for a in answers})}"
    failed = [answer for answer in answers if answer.outcome != 200]
    assert failed == [], f"{len(failed)} of {len(answers)} requests failed: {failed[:5]}"
    assert state == "completed"
    assert len(after) == PREDICTORS
    assert set(after).isdisjoint(before), "a predictor task was not replaced"
    served_after = {answer.served_by for answer in answers if answer.sent_at > converged_at}
    assert served_after == set(after.values())
