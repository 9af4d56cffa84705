"""The compose stack under test: built, started, waited for and torn down once per module.

Without a reachable Docker engine the e2e tests are skipped with a banner in the run's
summary, unless REQUIRE_DOCKER=1 (as in CI), which turns the skip into a failure.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".e2e"
SERVICES = ("service_a", "service_b")

BUILD_TIMEOUT = float(os.environ.get("E2E_BUILD_TIMEOUT", "1200"))
HEALTHY_TIMEOUT = float(os.environ.get("E2E_HEALTHY_TIMEOUT", "180"))

_skip_reasons: list[str] = []


def docker_required() -> bool:
    return os.environ.get("REQUIRE_DOCKER", "").lower() in ("1", "true", "yes")


def docker_engine_problem() -> str | None:
    """Why the Docker engine cannot be used, or None when `docker info` works."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out after 30s"
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no output)"]
        return f"`docker info` failed: {lines[-1]}"
    return None


def compose_command() -> list[str] | None:
    """docker-compose (v1, Debian's package) when installed, else the `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return ["docker", "compose"] if probe.returncode == 0 else None


def free_ports(count: int) -> list[int]:
    """Distinct ports free right now (all held open together, so never the same one twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class ComposeStack:
    """One compose project with its own name and host ports; every call goes through here."""

    command: list[str]
    project: str
    service_a_port: int
    service_b_port: int
    env: dict[str, str] = field(default_factory=dict, repr=False)
    logs_reported: bool = field(default=False, repr=False)

    @property
    def service_a_url(self) -> str:
        return f"http://127.0.0.1:{self.service_a_port}"

    @property
    def service_b_url(self) -> str:
        return f"http://127.0.0.1:{self.service_b_port}"

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, "--project-name", self.project, *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(result.args)}` exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def container_id(self, service: str) -> str:
        container = self.compose("ps", "-q", service).stdout.strip()
        if not container:
            raise RuntimeError(f"{service} has no container")
        return container

    def inspect(self, service: str, template: str) -> str:
        result = subprocess.run(
            ["docker", "inspect", "--format", template, self.container_id(service)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip()

    def health(self, service: str) -> str:
        """Docker's health status: starting, healthy or unhealthy (or the state if none)."""
        return self.inspect(
            service, "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        )

    def wait_healthy(self, service: str, timeout: float = HEALTHY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            status = self.health(service)
            if status == "healthy":
                return
            time.sleep(1)
        raise TimeoutError(f"{service} not healthy after {timeout:.0f}s (last status: {status})")

    def logs(self) -> str:
        result = self.compose("logs", "--no-color", "--timestamps", check=False, timeout=60)
        return result.stdout + result.stderr


def _skip_or_fail(problem: str) -> None:
    if docker_required():
        pytest.fail(f"REQUIRE_DOCKER is set but {problem}", pytrace=False)
    _skip_reasons.append(problem)
    pytest.skip(f"E2E SKIPPED, the compose stack was NOT tested: {problem}")


def _save_logs(stack: ComposeStack) -> tuple[Path, str]:
    logs = stack.logs()
    LOG_DIR.mkdir(exist_ok=True)
    path = LOG_DIR / f"{stack.project}.log"
    path.write_text(logs)
    return path, logs


@pytest.fixture(scope="module")
def compose_stack(request: pytest.FixtureRequest) -> Iterator[ComposeStack]:
    """Build and start the stack, wait for both containers to be healthy, always tear down."""
    problem = docker_engine_problem()
    command = compose_command() if problem is None else None
    if problem is None and command is None:
        problem = "neither docker-compose nor the `docker compose` plugin is installed"
    if problem is not None:
        _skip_or_fail(problem)
    assert command is not None

    standin = subprocess.run(
        [str(REPO_ROOT / "scripts" / "standin_base_image.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if standin.returncode != 0:
        pytest.fail(f"no base image python:3.11-slim:\n{standin.stdout}\n{standin.stderr}")

    service_a_port, service_b_port = free_ports(2)
    stack = ComposeStack(
        command=command,
        project=f"e2e{uuid.uuid4().hex[:10]}",
        service_a_port=service_a_port,
        service_b_port=service_b_port,
        env={
            **os.environ,
            "SERVICE_A_PORT": str(service_a_port),
            "SERVICE_B_PORT": str(service_b_port),
        },
    )
    failures_before = request.session.testsfailed
    try:
        try:
            stack.compose("up", "--build", "--detach", timeout=BUILD_TIMEOUT)
            for service in SERVICES:
                stack.wait_healthy(service)
        except (RuntimeError, TimeoutError, subprocess.SubprocessError) as error:
            path, logs = _save_logs(stack)
            pytest.fail(f"compose stack did not come up: {error}\n\nlogs ({path}):\n{logs}")
        yield stack
        if request.session.testsfailed > failures_before:
            path, _ = _save_logs(stack)
            print(f"compose logs saved to {path}")
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the stack's logs to the report of the first failing e2e test."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("compose_stack")
    if report.failed and isinstance(stack, ComposeStack) and not stack.logs_reported:
        stack.logs_reported = True
        report.sections.append(("docker-compose logs", stack.logs()))
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    """Make a skipped e2e impossible to miss at the end of the run."""
    for reason in dict.fromkeys(_skip_reasons):
        terminalreporter.write_sep("!", "E2E TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"The docker-compose stack was NOT tested: {reason}", red=True)
        terminalreporter.write_line(
            "Start a Docker engine to run them; REQUIRE_DOCKER=1 makes this a failure.", red=True
        )
