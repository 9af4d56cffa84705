"""The services as local processes: `python main.py` on free loopback ports, for the
integration and browser tests, the benchmark and scripts/screenshots.py."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from devkit.hosts import with_own_hosts
from devkit.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
PREDICTOR_READY_TIMEOUT = 120.0  # seconds; the first start trains a model
GATEWAY_READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# What a service process inherits from this one; every setting it gets is given explicitly,
# so no variable of the machine (LOG_LEVEL, PORT, ...) changes what a test or benchmark sees.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")

# Straight to loopback: no proxy from the environment.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceStartError(RuntimeError):
    """A service exited or did not answer in time; the message ends with its log."""


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET of `url`, or None when it cannot be had (refused, timed out)."""
    try:
        with _direct.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def worker_pids(supervisor_pid: int) -> set[int]:
    """The pids of the uvicorn workers of a service started with WORKERS > 1: the children
    of its supervisor that multiprocessing spawned (not its resource tracker)."""
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text()
    pids = set()
    for pid in map(int, children.split()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:  # it exited meanwhile
            continue
        if b"spawn_main" in command:
            pids.add(pid)
    return pids


def kill_process(process: "subprocess.Popen[bytes] | None", timeout: float) -> None:
    """SIGKILL `process` if it runs, and reap it."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=timeout)


def stop_process(process: "subprocess.Popen[bytes] | None", timeout: float) -> None:
    """SIGTERM `process` if it runs; SIGKILL it if it has not exited within `timeout`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process(process, timeout)


class ServiceProcess:
    """One service as a process (`python main.py` by default), its output in a log file."""

    def __init__(
        self,
        service: str,
        port: int,
        env: dict[str, str],
        log_path: Path,
        python: str = sys.executable,
        host: str = "127.0.0.1",
        arguments: Sequence[str] = ("main.py",),
        hosts_file: Path | None = None,
    ) -> None:
        """`arguments` go to `python`, run in the service's folder (default: its main.py);
        `hosts_file`: the process's own /etc/hosts (devkit.hosts)."""
        self.service = service
        self.port = port
        self.host = host
        self.env = env
        self.log_path = log_path
        self.python = python
        self.arguments = list(arguments)
        self.hosts_file = hosts_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> "ServiceProcess":
        inherited = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        environment = inherited | self.env | {"HOST": self.host, "PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            command = [self.python, *self.arguments]
            if self.hosts_file is not None:
                command = with_own_hosts(self.hosts_file, command)
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT / self.service,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        """Stop at once, as in a crash (SIGKILL)."""
        kill_process(self.process, STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing the process if it does not exit in time."""
        stop_process(self.process, STOP_TIMEOUT)

    def wait_until_ok(self, path: str, timeout: float) -> None:
        """Poll `path` until it answers 200; raise ServiceStartError with the log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.returncode() is not None:
                raise ServiceStartError(f"{self.service} exited early:\n{self.log_tail()}")
            if http_status(self.url + path) == 200:
                return
            time.sleep(0.2)
        raise ServiceStartError(
            f"{self.service} {path} not 200 after {timeout} s:\n{self.log_tail()}"
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@contextmanager
def running_services(
    model_dir: Path, log_dir: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Service B (training into an empty `model_dir`), then A forwarding to it; both stopped."""
    predictor = ServiceProcess(
        "service_b", free_port(), {"MODEL_DIR": str(model_dir)}, log_dir / "service_b.log"
    )
    gateway = ServiceProcess(
        "service_a", free_port(), {"SERVICE_B_URL": predictor.url}, log_dir / "service_a.log"
    )
    with ExitStack() as stack:
        stack.callback(predictor.stop)
        predictor.start().wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        stack.callback(gateway.stop)
        gateway.start().wait_until_ok("/ready", GATEWAY_READY_TIMEOUT)
        yield gateway, predictor
