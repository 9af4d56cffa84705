"""The training process dies with the predictor that started it, however the predictor
dies: left running, it would publish a version no job records, outside the one training
slot of the models folder. And it is the process the OOM killer picks first: a training
that outgrows a memory limit fails its job, the server goes on."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from predictor.config import SERVICE_ROOT
from predictor.training_process import OOM_SCORE_ADJ_MAX
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


@dataclass
class BlockedTraining:
    """A stand-in predictor and its training process, waiting to read its recipe."""

    parent: subprocess.Popen[str]
    child: int
    models: Path


@pytest.fixture
def blocked_training(tmp_path: Path) -> Iterator[BlockedTraining]:
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
        yield BlockedTraining(parent, child, tmp_path / "models")
    finally:
        if child and alive(child):
            os.kill(child, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        recipe.release()


def test_training_process_is_killed_when_its_parent_is_killed(
    blocked_training: BlockedTraining,
) -> None:
    child, models = blocked_training.child, blocked_training.models
    assert alive(child)

    blocked_training.parent.send_signal(signal.SIGKILL)
    blocked_training.parent.wait(timeout=10)
    deadline = time.monotonic() + DEATH_TIMEOUT_S
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not alive(child)
    assert not models.exists() or not any(models.iterdir())


def test_training_process_is_the_oom_killers_first_choice(
    blocked_training: BlockedTraining,
) -> None:
    adjustment = Path(f"/proc/{blocked_training.child}/oom_score_adj").read_text()
    assert int(adjustment) == OOM_SCORE_ADJ_MAX
