"""The predictor's model lifecycle in tests: the admin token, versions published in a
folder, waiting for training jobs, and training processes held back on purpose."""

import asyncio
import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from predictor.model_store import ModelStore
from predictor.training import train
from predictor.training_config import TrainingConfig, TrainingParams
from predictor.training_jobs import JOBS_FOLDER

ADMIN_TOKEN = "lifecycle-test-admin-token-4f1c9a"
"""The ADMIN_TOKEN of these tests: distinctive, so a log line that holds it is found."""
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEAK_PARAMS = TrainingParams(C=0.0001)
"""A recipe change that makes a clearly worse tiny model (holdout accuracy 0.8, not 1)."""
JOB_GUARD_S = 90.0
"""Bounds the wait for one training job (a child process that imports scikit-learn)."""
POLL_S = 0.05
FINISHED = ("succeeded", "failed")
TRAINING_LOCK_NAME = "training.lock"
"""What the training runner of every process sharing a models folder locks (`.jobs/`)."""


def publish_versions(
    config: TrainingConfig, models_dir: Path, params: list[TrainingParams]
) -> list[str]:
    """Train and publish one version per entry of `params` (in order); their versions."""
    store = ModelStore(models_dir)
    return [train(config.with_params(changes), store).version for changes in params]


async def job_reaching(
    client: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...] = FINISHED
) -> dict[str, Any]:
    """The job's record once its status is one of `statuses`; fails after JOB_GUARD_S."""
    deadline = time.monotonic() + JOB_GUARD_S
    while True:
        response = await client.get(f"/train/jobs/{job_id}", headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {JOB_GUARD_S} s"
        await asyncio.sleep(POLL_S)


async def finished_job(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a training job with `body` and return its record once it finished."""
    response = await client.post("/train", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 202, response.text
    return await job_reaching(client, response.json()["job_id"])


def sync_job_reaching(
    client: httpx.Client, job_id: str, statuses: tuple[str, ...] = FINISHED
) -> dict[str, Any]:
    """`job_reaching` for a real process, with a blocking client."""
    deadline = time.monotonic() + JOB_GUARD_S
    while True:
        response = client.get(f"/train/jobs/{job_id}", headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {JOB_GUARD_S} s"
        time.sleep(POLL_S)


class BlockableRecipe:
    """A training recipe whose readers can be held back: while blocked, a training process
    waits, for as long as the block lasts, to read it, for `config_path` is then a named
    pipe nobody writes. Block it once the predictor has started (start-up reads it).

    `release()` puts the recipe back; a training process still waiting then reads an empty
    recipe from the pipe and exits, failing (also one whose predictor was killed)."""

    def __init__(self, config_path: Path) -> None:
        self.path = config_path
        self._recipe = config_path.read_bytes()
        self._pipe = config_path.with_name(f".{config_path.name}.fifo")
        self._writer: int | None = None

    def block(self) -> None:
        self.path.unlink()
        os.mkfifo(self.path)

    def wait_for_reader(self) -> None:
        """Wait until a training process has opened the pipe, and keep it waiting there
        (for its recipe's bytes) until `release()`. Fails after JOB_GUARD_S.

        A job is "running" from before its training process starts, which takes a while
        (it imports scikit-learn) to open its recipe: only then is it really held back."""
        deadline = time.monotonic() + JOB_GUARD_S
        while self._writer is None:
            try:
                self._writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: no reader has it open yet
                    raise
                assert time.monotonic() < deadline, f"no training process read {self.path}"
                time.sleep(POLL_S)

    def release(self) -> None:
        if not stat.S_ISFIFO(self.path.lstat().st_mode):
            return
        self.path.rename(self._pipe)
        self.path.write_bytes(self._recipe)
        try:
            if self._writer is None:
                # Opened for writing: the readers waiting to open it get it open.
                self._writer = os.open(self._pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader is waiting
                raise
        finally:
            if self._writer is not None:
                os.close(self._writer)  # and then they read the end of an empty recipe
                self._writer = None
            self._pipe.unlink()


class HeldTrainingLock:
    """A models folder's training lock, held here as another process' training holds it:
    `with HeldTrainingLock(models_dir) as lock:` holds it until the block ends or
    `lock.release()`."""

    def __init__(self, models_dir: Path) -> None:
        self.path = models_dir / JOBS_FOLDER / TRAINING_LOCK_NAME
        self._file: BinaryIO | None = None

    def __enter__(self) -> "HeldTrainingLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the only descriptor lets the lock go
            self._file = None

    async def runner_waits(self) -> None:
        """Wait until this process' training runner waits for the lock (it has the lock
        file open too): it has taken a job from the queue. Fails after JOB_GUARD_S."""
        deadline = time.monotonic() + JOB_GUARD_S
        while _descriptors_of(self.path) < 2:
            assert time.monotonic() < deadline, f"no runner waits for {self.path}"
            await asyncio.sleep(POLL_S)


def _descriptors_of(path: Path) -> int:
    """How many of this process' file descriptors are open on `path`."""
    target, count = path.resolve(), 0
    for descriptor in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile (the listing's own, say)
            if Path(os.readlink(descriptor)) == target:
                count += 1
    return count
