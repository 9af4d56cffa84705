"""The training process dies with the predictor that started it, however the predictor
dies: left running, it would publish a version no job records, outside the one training
slot of the models folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from predictor.config import SERVICE_ROOT
from tests.support.lifecycle import BlockableRecipe
from tests.support.tiny_dataset import write_tiny_training_dir

DEATH_TIMEOUT_S = 20.0

# A stand-in for the predictor: starts a training process as TrainingCommand does, prints
# its pid, and waits for it.
PARENT = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "predictor.training_process",
    "--config", sys.argv[1], "--models-dir", sys.argv[2], "--params", "{}",
    "--parent-pid", str(os.getpid())])
print(child.pid, flush=True)
child.wait()
"""


def alive(pid: int) -> bool:
    """Running or sleeping; not gone, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_training_process_is_killed_when_its_parent_is_killed(tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    recipe = BlockableRecipe(write_tiny_training_dir(tmp_path / "recipe"))
    recipe.block()  # the training process waits to read its recipe, for as long as we like
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(recipe.path), str(tmp_path / "models")],
        cwd=SERVICE_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        recipe.wait_for_reader()
        assert alive(child)

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + DEATH_TIMEOUT_S
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)

        assert not alive(child)
        assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    finally:
        if child and alive(child):
            os.kill(child, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        recipe.release()
