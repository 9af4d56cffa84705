"""`make run` (scripts/run_local.sh) refuses ports it cannot use before doing anything else:
it names the port and what holds it, and exits 1 without creating a venv or starting a
service."""

import os
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest

from devkit.ports import free_port
from devkit.processes import INHERITED_VARIABLES, REPO_ROOT

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 30.0  # the refusal comes at once; this bounds a script that goes on


def run_local(**settings: str) -> subprocess.CompletedProcess[str]:
    """`bash scripts/run_local.sh` with `settings`; its whole process group is killed if it
    is still running after RUN_TIMEOUT_S."""
    inherited = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    # HOST keeps the port check on loopback. PYTHON=false: should the check ever let the
    # script go on, creating a venv fails at once instead of installing anything.
    env = inherited | {"HOST": "127.0.0.1", "PYTHON": "false"} | settings
    script = subprocess.Popen(
        ["bash", "scripts/run_local.sh"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = script.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(script.pid, signal.SIGKILL)
        stdout, stderr = script.communicate()
        pytest.fail(f"run_local.sh still running after {RUN_TIMEOUT_S} s:\n{stdout}{stderr}")
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
    return subprocess.CompletedProcess(script.args, script.returncode, stdout, stderr)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port this test process listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port: int = listener.getsockname()[1]
        yield port


def test_taken_port_is_refused_naming_its_holder(held_port: int) -> None:
    result = run_local(SERVICE_B_PORT=str(held_port), SERVICE_A_PORT=str(free_port()))

    assert result.returncode == 1
    assert f"port {held_port} is already in use" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr


def test_taken_port_is_refused_before_creating_venvs(held_port: int) -> None:
    result = run_local(SERVICE_B_PORT=str(held_port), SERVICE_A_PORT=str(free_port()))

    assert result.returncode == 1
    assert "Creating" not in result.stdout + result.stderr
    assert "Starting" not in result.stdout + result.stderr


def test_invalid_port_is_refused_naming_it() -> None:
    result = run_local(SERVICE_B_PORT=str(free_port()), SERVICE_A_PORT="99999")

    assert result.returncode == 1
    assert "99999" in result.stderr
    assert "Creating" not in result.stdout + result.stderr
