"""The docker-compose stack of the end-to-end tests: a project with its own name and
host ports, and the Docker engine checks that decide whether it can run."""

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTHY_TIMEOUT = float(os.environ.get("E2E_HEALTHY_TIMEOUT", "180"))

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
