"""The docker-compose stack of the end-to-end tests: a project with its own name, host
ports and compose profiles, and the Docker engine checks that decide whether it can run."""

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTHY_TIMEOUT = float(os.environ.get("E2E_HEALTHY_TIMEOUT", "180"))
OBSERVABILITY_PROFILE = "observability"
"""The compose profile that adds the Prometheus server."""
DEFAULT_FILES = ("docker-compose.yml",)
DIRECT_FILES = ("docker-compose.yml", "docker-compose.direct.yml")
"""The default stack plus the file that publishes service_b on the host."""

E2E_ADMIN_TOKEN = "e2e-admin-token-" + uuid.uuid4().hex
"""The stack's ADMIN_TOKEN (docker-compose passes it to service_b)."""


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


@dataclass
class ComposeStack:
    """One compose project with its own name, host ports and profiles; every call goes
    through here, so `down` and `logs` see the profiles' services too."""

    command: list[str]
    project: str
    service_a_port: int
    service_b_port: int
    prometheus_port: int | None = None
    """Set with the observability profile: where Prometheus is published."""
    profiles: tuple[str, ...] = ()
    files: tuple[str, ...] = DEFAULT_FILES
    """The compose files, in order (`-f` each)."""
    env: dict[str, str] = field(default_factory=dict, repr=False)
    logs_reported: bool = field(default=False, repr=False)

    @property
    def service_a_url(self) -> str:
        return f"http://127.0.0.1:{self.service_a_port}"

    @property
    def service_b_url(self) -> str:
        return f"http://127.0.0.1:{self.service_b_port}"

    @property
    def prometheus_url(self) -> str:
        if self.prometheus_port is None:
            raise RuntimeError(f"{self.project} runs without the {OBSERVABILITY_PROFILE} profile")
        return f"http://127.0.0.1:{self.prometheus_port}"

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        profile_options = [option for name in self.profiles for option in ("--profile", name)]
        file_options = [option for name in self.files for option in ("--file", name)]
        result = subprocess.run(
            [
                *self.command,
                *file_options,
                "--project-name",
                self.project,
                *profile_options,
                *args,
            ],
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
        [container] = self.container_ids(service)
        return container

    def container_ids(self, service: str) -> list[str]:
        """Every container of the service (one per replica)."""
        containers = self.compose("ps", "-q", service).stdout.split()
        if not containers:
            raise RuntimeError(f"{service} has no container")
        return containers

    def inspect_all(self, service: str, template: str) -> list[str]:
        """`docker inspect --format template` of each container of the service."""
        result = subprocess.run(
            ["docker", "inspect", "--format", template, *self.container_ids(service)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.splitlines()

    def created_services(self) -> set[str]:
        """The services this project has a container of, running or not."""
        result = subprocess.run(
            [
                "docker",
                "ps",
                "--all",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--format",
                '{{.Label "com.docker.compose.service"}}',
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return set(result.stdout.split())

    def inspect(self, service: str, template: str) -> str:
        result = subprocess.run(
            ["docker", "inspect", "--format", template, self.container_id(service)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip()

    def inspect_json(self, service: str, template: str) -> Any:
        """A part of `docker inspect` (e.g. `{{json .HostConfig}}`), parsed."""
        return json.loads(self.inspect(service, template))

    def exec(
        self, service: str, *command: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the service's container as its user; the exit status unchecked."""
        return subprocess.run(
            ["docker", "exec", self.container_id(service), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def health(self, service: str) -> str:
        """Docker's health status: starting, healthy or unhealthy (or the state if none)."""
        return self.inspect(
            service, "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        )

    def wait_healthy(self, service: str, timeout: float = HEALTHY_TIMEOUT) -> None:
        """Until every container of the service is healthy."""
        deadline = time.monotonic() + timeout
        statuses = ["unknown"]
        template = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        while time.monotonic() < deadline:
            statuses = self.inspect_all(service, template)
            if statuses and all(status == "healthy" for status in statuses):
                return
            time.sleep(1)
        raise TimeoutError(f"{service} not healthy after {timeout:.0f}s (last: {statuses})")

    def wait_prometheus_ready(self, timeout: float = HEALTHY_TIMEOUT) -> None:
        """Until Prometheus's /-/ready answers 200: config and rules loaded, TSDB open. (No
        compose healthcheck: the stand-in image has no HTTP client to run one with.)"""
        wait_until_200(f"{self.prometheus_url}/-/ready", "Prometheus", timeout)

    def logs(self) -> str:
        result = self.compose("logs", "--no-color", "--timestamps", check=False, timeout=60)
        return result.stdout + result.stderr


def wait_until_200(url: str, what: str, timeout: float) -> None:
    """Poll `url` every second until it answers 200; TimeoutError naming `what` and the
    last answer otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text.strip()}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last: {last})")
