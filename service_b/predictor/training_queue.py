"""Training jobs, run one at a time in a child process at lower CPU priority, and what
their versions do next (`never`, `always` or `if_better` activated).

Jobs wait in a bounded queue (TRAIN_QUEUE_SIZE; beyond it, 429). Across processes that
share the models folder, one training runs at a time: the runner holds an exclusive lock
on `.jobs/training.lock` while its child trains. A child that runs past TRAIN_TIMEOUT_S
is killed and its job marked failed; so is a job cut short by a shutdown.
"""

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predictor.errors import TrainingQueueFull, VersionPinned, VersionRefused
from predictor.metrics import PredictorMetrics
from predictor.model import LoadedModel
from predictor.model_versions import VersionRegistry
from predictor.schemas import ActivationDecision, ActivationPolicy, TrainingJob
from predictor.training_jobs import JobStore, now
from predictor.training_process import FAILURE_PREFIX

logger = logging.getLogger(__name__)

SHUT_DOWN = "stopped: the predictor shut down before the job finished"
RETRY_AFTER_WITHOUT_HISTORY_S = 10
"""Retry-After of a full queue before any job finished (after: the last job's run time)."""
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The child's numeric libraries use one thread, so training takes one core, not all."""
SECRETS = frozenset({"ADMIN_TOKEN"})
"""Variables the training process does not need and is not given."""


class TrainingFailed(Exception):
    """The training process did not publish a version; the message says why, on one line."""


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class TrainingCommand:
    """How to start the training process: the recipe, the models folder and its limits."""

    config_path: Path
    models_root: Path
    working_dir: Path
    timeout_s: float
    nice: int

    async def run(self, params: dict[str, Any], examples: Path | None) -> TrainedVersion:
        """Train one version in a child process. TrainingFailed if it publishes none."""
        arguments = [
            "-m",
            "predictor.training_process",
            "--config",
            str(self.config_path),
            "--models-dir",
            str(self.models_root),
            "--params",
            json.dumps(params),
            "--nice",
            str(self.nice),
            "--parent-pid",
            str(os.getpid()),
        ]
        if examples is not None:
            arguments += ["--examples", str(examples)]
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.working_dir,
            env=child_environment(),
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                stdout, stderr = await child.communicate()
        except TimeoutError:
            await _kill(child)
            raise TrainingFailed(f"ran past TRAIN_TIMEOUT_S={self.timeout_s:g}") from None
        except asyncio.CancelledError:
            await asyncio.shield(_kill(child))
            raise
        if child.returncode != 0:
            raise TrainingFailed(_failure_reason(child.returncode, stderr))
        try:
            result = json.loads(stdout.decode().strip().splitlines()[-1])
            return TrainedVersion(version=result["version"], metrics=result["metrics"])
        except (ValueError, IndexError, KeyError, TypeError):
            raise TrainingFailed("the training process gave no result") from None


def child_environment() -> dict[str, str]:
    """This process' environment minus its secrets, with single-threaded numeric libraries."""
    inherited = {name: value for name, value in os.environ.items() if name.upper() not in SECRETS}
    return inherited | SINGLE_THREADED


async def _kill(child: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    await child.wait()


def _failure_reason(returncode: int | None, stderr: bytes) -> str:
    for line in reversed(stderr.decode(errors="replace").splitlines()):
        if line.startswith(FAILURE_PREFIX):
            return line.removeprefix(FAILURE_PREFIX)
    if returncode is not None and returncode < 0:
        return f"the training process was killed by signal {-returncode}"
    return f"the training process exited with status {returncode}"


def activation_decision(
    policy: ActivationPolicy, metrics: dict[str, Any], active: LoadedModel | None
) -> ActivationDecision:
    """Whether a new version with `metrics` should replace `active`, and why."""
    if policy == "never":
        return ActivationDecision(activated=False, reason="activate is never")
    if policy == "always":
        return ActivationDecision(activated=True, reason="activate is always")
    if active is None:
        return ActivationDecision(activated=True, reason="no version was serving")
    active_metrics = active.metadata.get("metrics", {})
    metric = next(
        (
            name
            for name in ("holdout_accuracy", "test_accuracy")
            if isinstance(metrics.get(name), int | float)
            and isinstance(active_metrics.get(name), int | float)
        ),
        None,
    )
    if metric is None:
        return ActivationDecision(
            activated=False,
            reason=f"no accuracy to compare with {active.version}'s",
            active_version=active.version,
        )
    candidate, current = float(metrics[metric]), float(active_metrics[metric])
    better = candidate > current
    return ActivationDecision(
        activated=better,
        reason=f"{metric} {candidate:g} is {'above' if better else 'not above'} "
        f"{active.version}'s {current:g}",
        metric=metric,
        candidate_value=candidate,
        active_version=active.version,
        active_value=current,
    )


class TrainingQueue:
    """Accepts training jobs and runs them one at a time, for as long as it is open."""

    def __init__(
        self,
        jobs: JobStore,
        registry: VersionRegistry,
        command: TrainingCommand,
        queue_size: int,
        lock_poll_s: float,
        metrics: PredictorMetrics | None = None,
    ) -> None:
        """`lock_poll_s`: how often a job waiting for another process' training checks;
        `metrics`: where jobs' statuses and training times are counted."""
        self._metrics = metrics
        self._jobs = jobs
        self._registry = registry
        self._command = command
        self._queue_size = queue_size
        self._lock_poll_s = lock_poll_s
        self._queue: asyncio.Queue[TrainingJob] = asyncio.Queue()
        self._waiting = 0  # accepted, not yet taken by the runner: counted before any await
        self._busy = False  # the runner has a job (running, or waiting for the lock)
        self._last_run_s: float | None = None
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "TrainingQueue":
        await asyncio.to_thread(self._jobs.fail_interrupted)
        self._worker = asyncio.create_task(self._run(), name="training-queue")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._queue.empty():
            await self._fail(self._queue.get_nowait(), SHUT_DOWN)
        self._jobs.release_all()

    async def submit(
        self,
        params: dict[str, Any],
        examples_csv: bytes | None,
        examples: int,
        activate: ActivationPolicy,
    ) -> TrainingJob:
        """Queue a job (TrainingQueueFull when TRAIN_QUEUE_SIZE wait already)."""
        # While the runner is idle, one of the accepted jobs is about to be its job, not a
        # waiting one: back-to-back requests are not refused for the moment in between.
        if self._waiting >= self._queue_size + (0 if self._busy else 1):
            raise TrainingQueueFull(self._retry_after_s())
        self._waiting += 1
        try:
            job = await asyncio.to_thread(
                self._jobs.create, params, examples_csv, activate, examples
            )
        except BaseException:
            self._waiting -= 1
            raise
        self._queue.put_nowait(job)
        self._count(job.status)
        logger.info("Training job %s queued (%d waiting)", job.job_id, self._waiting)
        return job

    def _retry_after_s(self) -> int:
        if self._last_run_s is None:
            return RETRY_AFTER_WITHOUT_HISTORY_S
        return max(1, math.ceil(self._last_run_s))

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            self._waiting -= 1
            self._busy = True
            try:
                await self._run_job(job)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a job's bug must not stop the queue
                logger.exception("Training job %s failed unexpectedly", job.job_id)
                await self._fail(job, f"internal error: {type(error).__name__}")
            finally:
                self._busy = False

    async def _run_job(self, job: TrainingJob) -> None:
        try:
            async with self._training_lock():
                job = job.model_copy(update={"status": "running", "started_at": now()})
                await asyncio.to_thread(self._jobs.save, job)
                self._count(job.status)
                logger.info("Training job %s running", job.job_id)
                started = time.monotonic()
                examples = self._jobs.examples_path(job.job_id) if job.examples else None
                try:
                    trained = await self._command.run(job.params, examples)
                except TrainingFailed as failure:
                    logger.warning("Training job %s failed: %s", job.job_id, failure)
                    await self._fail(job, str(failure))
                    return
                finally:
                    self._last_run_s = time.monotonic() - started
                    if self._metrics is not None:
                        self._metrics.training_ran(self._last_run_s)
        except asyncio.CancelledError:
            # Cut short by a shutdown: while training, or while waiting for the training
            # lock another process holds (then no longer in the queue, still "queued").
            await asyncio.shield(self._fail(job, SHUT_DOWN))
            raise
        decision = await self._activate(job.activate, trained)
        done = job.model_copy(
            update={
                "status": "succeeded",
                "finished_at": now(),
                "version": trained.version,
                "metrics": trained.metrics,
                "activation": decision,
            }
        )
        await asyncio.to_thread(self._jobs.finish, done)
        self._count(done.status)
        logger.info(
            "Training job %s produced %s (activated: %s, %s)",
            job.job_id,
            trained.version,
            decision.activated,
            decision.reason,
        )

    async def _activate(
        self, policy: ActivationPolicy, trained: TrainedVersion
    ) -> ActivationDecision:
        if self._registry.pinned and policy != "never":
            return ActivationDecision(activated=False, reason=VersionPinned.detail)
        decision = activation_decision(policy, trained.metrics, self._registry.active_model)
        if not decision.activated:
            return decision
        try:
            await self._registry.activate(trained.version)
        except VersionRefused:
            return decision.model_copy(
                update={"activated": False, "reason": f"{trained.version} failed verification"}
            )
        return decision

    async def _fail(self, job: TrainingJob, reason: str) -> None:
        failed = job.model_copy(update={"status": "failed", "finished_at": now(), "error": reason})
        await asyncio.to_thread(self._jobs.finish, failed)
        self._count(failed.status)

    def _count(self, status: str) -> None:
        if self._metrics is not None:
            self._metrics.training_job(status)

    @contextlib.asynccontextmanager
    async def _training_lock(self) -> AsyncIterator[None]:
        """Hold `.jobs/training.lock`, waiting (cancellably) while another process does."""
        path = self._jobs.root / "training.lock"
        with path.open("ab") as lock:
            while True:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self._lock_poll_s)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
