"""Service processes for the integration and browser tests: `python main.py` on free
loopback ports. Also used by scripts/screenshots.py."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PREDICTOR_READY_TIMEOUT = 120.0  # seconds; the first start trains a model
GATEWAY_READY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 1.0  # the gateway's SERVICE_B_CONNECT_TIMEOUT in these tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """`python main.py` of one service, its output in a log file."""

    def __init__(self, service: str, port: int, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.port = port
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        environment = os.environ | self.env | {"HOST": "127.0.0.1", "PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "main.py"],
                cwd=REPO_ROOT / self.service,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """Stop at once, as in a crash (SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully, killing the process if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_until_ok(self, path: str, timeout: float) -> None:
        """Poll `path` until it answers 200; fail with the service's log otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(f"{self.service} exited early:\n{self.log_tail()}")
                try:
                    if client.get(self.url + path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        pytest.fail(f"{self.service} {path} not 200 after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_services(
    model_dir: Path, log_dir: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Service B (training into an empty `model_dir`), then A forwarding to it; both stopped."""
    predictor = ServiceProcess(
        "service_b", free_port(), {"MODEL_DIR": str(model_dir)}, log_dir / "service_b.log"
    )
    gateway = ServiceProcess(
        "service_a",
        free_port(),
        {"SERVICE_B_URL": f"{predictor.url}/predict"},
        log_dir / "service_a.log",
    )
    with ExitStack() as stack:
        stack.callback(predictor.stop)
        predictor.start().wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        stack.callback(gateway.stop)
        gateway.start().wait_until_ok("/ready", GATEWAY_READY_TIMEOUT)
        yield gateway, predictor
