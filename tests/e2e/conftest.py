"""The compose stack under test: built, started, waited for and torn down once per run.

One stack for every e2e test, with the observability profile on (Prometheus next to the
two services) and docker-compose.direct.yml (service_b published, for the tests that call
it directly): building and starting it is most of the e2e time. The scaled default stack
(test_compose_scale.py) and the swarm stack (test_swarm.py) have their own.

Without a reachable Docker engine the e2e tests are skipped with a banner in the run's
summary, unless REQUIRE_DOCKER=1 (as in CI), which turns the skip into a failure.
"""

import os
import subprocess
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devkit.ports import free_ports
from tests.support.compose import (
    DIRECT_FILES,
    E2E_ADMIN_TOKEN,
    OBSERVABILITY_PROFILE,
    ComposeStack,
    compose_command,
    docker_engine_problem,
)
from tests.support.required import required

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".e2e"
SERVICES = ("service_a", "service_b")

BUILD_TIMEOUT = float(os.environ.get("E2E_BUILD_TIMEOUT", "1200"))
DEFAULTS_KEPT = frozenset({"SERVICE_B_BIND"})
"""Variables of docker-compose.yml the stack never takes from the shell: the tests check
their defaults."""

_skip_reasons: list[str] = []


def _skip_or_fail(problem: str) -> None:
    if required("REQUIRE_DOCKER"):
        pytest.fail(f"REQUIRE_DOCKER is set but {problem}", pytrace=False)
    _skip_reasons.append(problem)
    pytest.skip(f"E2E SKIPPED, the compose stack was NOT tested: {problem}")


def save_logs(stack: ComposeStack) -> tuple[Path, str]:
    logs = stack.logs()
    LOG_DIR.mkdir(exist_ok=True)
    path = LOG_DIR / f"{stack.project}.log"
    path.write_text(logs)
    return path, logs


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A reachable Docker engine with the stack's base images (skip or fail without)."""
    problem = docker_engine_problem()
    if problem is not None:
        _skip_or_fail(problem)
    standin = subprocess.run(
        [str(REPO_ROOT / "scripts" / "standin_base_image.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if standin.returncode != 0:
        pytest.fail(f"no base images:\n{standin.stdout}\n{standin.stderr}")


@pytest.fixture(scope="session")
def compose_cmd(docker_engine: None) -> list[str]:
    """docker-compose or `docker compose` (skip or fail without either)."""
    command = compose_command()
    if command is None:
        _skip_or_fail("neither docker-compose nor the `docker compose` plugin is installed")
    assert command is not None
    return command


def stack_env(**settings: str) -> dict[str, str]:
    """The environment of a compose stack as compose's defaults make it, whatever this
    shell exports, with `settings` added."""
    return {
        **{name: value for name, value in os.environ.items() if name not in DEFAULTS_KEPT},
        **settings,
    }


@pytest.fixture(scope="session")
def compose_stack(request: pytest.FixtureRequest, compose_cmd: list[str]) -> Iterator[ComposeStack]:
    """Build and start the stack, wait for both services to be healthy and Prometheus to be
    ready, always tear down."""
    command = compose_cmd
    service_a_port, service_b_port, prometheus_port = free_ports(3)
    stack = ComposeStack(
        command=command,
        project=f"e2e{uuid.uuid4().hex[:10]}",
        service_a_port=service_a_port,
        service_b_port=service_b_port,
        prometheus_port=prometheus_port,
        profiles=(OBSERVABILITY_PROFILE,),
        files=DIRECT_FILES,
        env=stack_env(
            SERVICE_A_PORT=str(service_a_port),
            SERVICE_B_PORT=str(service_b_port),
            PROMETHEUS_PORT=str(prometheus_port),
            ADMIN_TOKEN=E2E_ADMIN_TOKEN,
        ),
    )
    with running(stack, request, "compose stack"):
        yield stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the stack's logs to the report of the first failing e2e test."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("compose_stack")
    if report.failed and isinstance(stack, ComposeStack) and not stack.logs_reported:
        stack.logs_reported = True
        report.sections.append(("docker-compose logs", stack.logs()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Make a skipped e2e impossible to miss at the end of the run."""
    for reason in dict.fromkeys(_skip_reasons):
        terminalreporter.write_sep("!", "E2E TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"The docker-compose stack was NOT tested: {reason}", red=True)
        terminalreporter.write_line(
            "Start a Docker engine to run them; REQUIRE_DOCKER=1 makes this a failure.", red=True
        )


@contextmanager
def running(
    stack: ComposeStack, request: pytest.FixtureRequest, what: str, *up_arguments: str
) -> Iterator[None]:
    """`stack` built and up (`up --build --detach` plus `up_arguments`), both services
    healthy and Prometheus ready; its logs saved if a test failed; always torn down."""
    failures_before = request.session.testsfailed
    try:
        try:
            stack.compose("up", "--build", "--detach", *up_arguments, timeout=BUILD_TIMEOUT)
            for service in SERVICES:
                stack.wait_healthy(service)
            stack.wait_prometheus_ready()
        except (RuntimeError, TimeoutError, subprocess.SubprocessError) as error:
            path, logs = save_logs(stack)
            pytest.fail(f"{what} did not come up: {error}\n\nlogs ({path}):\n{logs}")
        yield
        if request.session.testsfailed > failures_before:
            path, _ = save_logs(stack)
            print(f"compose logs saved to {path}")
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)
