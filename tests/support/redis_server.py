"""A real redis-server on a free loopback port, for the tests of a rate limit kept in Redis.

Without redis-server (Debian: `apt-get install redis-server`) those tests are skipped,
unless REQUIRE_REDIS=1 (as in CI), which turns the skip into a failure.
"""

import socket
import subprocess
import time
from pathlib import Path

from devkit.ports import free_port
from devkit.processes import kill_process, stop_process
from tests.support.required import required_executable

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def redis_server_executable() -> str:
    """The redis-server executable; skips (or fails, with REQUIRE_REDIS=1) when missing."""
    return required_executable(
        "redis-server",
        "REQUIRE_REDIS",
        "apt-get install redis-server",
        "The rate limit in Redis was NOT tested",
    )


def answers_ping(port: int) -> bool:
    """Whether a Redis server on loopback `port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            # -NOAUTH: it answers, and asks for the password first.
            return connection.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """redis-server as a process, keeping nothing on disk, its output in a log file."""

    def __init__(
        self,
        executable: str,
        folder: Path,
        port: int | None = None,
        password: str | None = None,
    ) -> None:
        """`password`: the server asks for it (requirepass)."""
        self.executable = executable
        self.folder = folder
        self.port = port or free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.folder / "redis-server.log"

    def start(self) -> "RedisServer":
        """Start it (again, on the same port, after `kill`) and wait until it answers PING."""
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        if self.password is not None:
            command += ["--requirepass", self.password]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """Stop at once, as in a crash (SIGKILL); what it counted is lost."""
        kill_process(self.process, STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing it if it does not exit in time."""
        stop_process(self.process, STOP_TIMEOUT)
