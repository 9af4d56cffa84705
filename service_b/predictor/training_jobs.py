"""Training job records, persisted in the models folder (`.jobs/<job_id>.json`) so they
survive a restart, and the ownership that tells a live job from one a restart cut short.

A process owns each job it accepted by holding an exclusive lock on `<job_id>.lock`
until the job ends. The kernel drops the lock when the process dies, however it dies: a
queued or running record whose lock anyone can take is a job nobody will finish.
"""

import fcntl
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from predictor.model_store import write_atomically
from predictor.schemas import ActivationPolicy, TrainingJob

logger = logging.getLogger(__name__)

JOBS_FOLDER = ".jobs"
INTERRUPTED = "interrupted: the predictor stopped before the job finished"


def now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """The job records of one models folder."""

    def __init__(self, models_root: Path) -> None:
        self.root = models_root / JOBS_FOLDER
        self._owned: dict[str, IO[bytes]] = {}

    def create(
        self,
        params: dict[str, Any],
        examples_csv: bytes | None,
        activate: ActivationPolicy,
        examples: int,
    ) -> TrainingJob:
        """A new queued job, owned by this process; its examples are kept beside it."""
        self.root.mkdir(parents=True, exist_ok=True)
        job = TrainingJob(
            job_id=uuid.uuid4().hex,
            status="queued",
            activate=activate,
            created_at=now(),
            params=params,
            examples=examples,
        )
        self._own(job.job_id)
        if examples_csv is not None:
            self.examples_path(job.job_id).write_bytes(examples_csv)
        self.save(job)
        return job

    def save(self, job: TrainingJob) -> None:
        write_atomically(self._record_path(job.job_id), job.model_dump_json(indent=2) + "\n")

    def finish(self, job: TrainingJob) -> None:
        """Save a finished job and give up its ownership."""
        self.save(job)
        self.examples_path(job.job_id).unlink(missing_ok=True)
        lock = self._owned.pop(job.job_id, None)
        if lock is not None:
            lock.close()
            self._lock_path(job.job_id).unlink(missing_ok=True)

    def get(self, job_id: str) -> TrainingJob | None:
        try:
            return TrainingJob.model_validate_json(self._record_path(job_id).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as error:
            logger.warning("Training job record %s is unreadable: %s", job_id, error)
            return None

    def all(self) -> list[TrainingJob]:
        """Every readable record, newest first."""
        if not self.root.is_dir():
            return []
        jobs = [
            job for path in self.root.glob("*.json") if (job := self.get(path.stem)) is not None
        ]
        return sorted(jobs, key=lambda job: job.created_at, reverse=True)

    def examples_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.examples.csv"

    def fail_interrupted(self) -> int:
        """Mark failed every unfinished job that no live process owns; how many there were."""
        failed = 0
        for listed in self.all():
            if listed.status not in ("queued", "running") or not self._orphaned(listed.job_id):
                continue
            # Read again now that the lock is ours: its owner may have finished it (and let
            # the lock go) since the listing read it.
            job = self.get(listed.job_id)
            if job is None or job.status not in ("queued", "running"):
                self._owned.pop(listed.job_id).close()
                self._lock_path(listed.job_id).unlink(missing_ok=True)
                continue
            self.finish(
                job.model_copy(
                    update={"status": "failed", "finished_at": now(), "error": INTERRUPTED}
                )
            )
            failed += 1
        if failed:
            logger.warning("Marked %d training job(s) failed: %s", failed, INTERRUPTED)
        return failed

    def release_all(self) -> None:
        for lock in self._owned.values():
            lock.close()
        self._owned.clear()

    def _orphaned(self, job_id: str) -> bool:
        if job_id in self._owned:
            return False
        try:
            self._own(job_id)
        except BlockingIOError:
            return False  # a live process holds it
        return True

    def _own(self, job_id: str) -> None:
        lock = self._lock_path(job_id).open("ab")
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            lock.close()
            raise
        self._owned[job_id] = lock

    def _record_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def _lock_path(self, job_id: str) -> Path:
        return self.root / f"{job_id}.lock"
