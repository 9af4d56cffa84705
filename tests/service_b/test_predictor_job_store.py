"""Training job records: kept in the models folder, and at start-up the unfinished jobs
that no live process owns (their predictor died) are marked failed, others are not."""

from pathlib import Path

import pytest

from predictor.schemas import JobStatus, TrainingJob
from predictor.training_jobs import INTERRUPTED, JOBS_FOLDER, JobStore


def abandoned_job(models_dir: Path, status: JobStatus) -> TrainingJob:
    """A job left `status` by a process that died: its ownership is let go."""
    owner = JobStore(models_dir)
    job = owner.create({"C": 5.0}, b"text,label\na kitten,cat\n", "if_better", 1)
    owner.save(job.model_copy(update={"status": status}))
    owner.release_all()  # what the kernel does to the locks of a process that dies
    return job


def read_job(models_dir: Path, job_id: str) -> TrainingJob:
    job = JobStore(models_dir).get(job_id)
    assert job is not None
    return job


@pytest.mark.parametrize("status", ["queued", "running"])
def test_unfinished_job_nobody_owns_is_marked_failed_as_interrupted(
    models_dir: Path, status: JobStatus
) -> None:
    job = abandoned_job(models_dir, status)

    failed = JobStore(models_dir).fail_interrupted()

    record = read_job(models_dir, job.job_id)
    assert failed == 1
    assert (record.status, record.error) == ("failed", INTERRUPTED)
    assert record.finished_at is not None
    assert record.params == {"C": 5.0}


def test_interrupted_job_examples_are_removed(models_dir: Path) -> None:
    job = abandoned_job(models_dir, "running")

    JobStore(models_dir).fail_interrupted()

    assert not JobStore(models_dir).examples_path(job.job_id).exists()


def test_job_owned_by_a_live_process_is_left_alone(models_dir: Path) -> None:
    owner = JobStore(models_dir)
    job = owner.create({}, None, "never", 0)
    owner.save(job.model_copy(update={"status": "running"}))

    failed = JobStore(models_dir).fail_interrupted()

    assert failed == 0
    assert read_job(models_dir, job.job_id).status == "running"


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_finished_job_is_left_alone(models_dir: Path, status: JobStatus) -> None:
    job = abandoned_job(models_dir, status)

    failed = JobStore(models_dir).fail_interrupted()

    assert failed == 0
    assert read_job(models_dir, job.job_id).status == status


def test_job_its_owner_finished_after_the_scan_listed_it_is_left_alone(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = JobStore(models_dir)
    job = owner.create({}, None, "always", 0)
    running = job.model_copy(update={"status": "running"})
    owner.save(running)
    starting = JobStore(models_dir)
    listed_before_it_finished = starting.all()
    owner.finish(running.model_copy(update={"status": "succeeded", "version": "v2"}))
    monkeypatch.setattr(starting, "all", lambda: listed_before_it_finished)

    failed = starting.fail_interrupted()

    assert failed == 0
    assert read_job(models_dir, job.job_id).status == "succeeded"


def test_job_record_reads_back_as_written(models_dir: Path) -> None:
    job = JobStore(models_dir).create({"seed": 3}, None, "always", 0)

    assert read_job(models_dir, job.job_id) == job


def test_unreadable_job_record_is_skipped(models_dir: Path) -> None:
    job = JobStore(models_dir).create({}, None, "never", 0)
    (models_dir / JOBS_FOLDER / f"{'b' * 32}.json").write_text("{not json")

    assert [listed.job_id for listed in JobStore(models_dir).all()] == [job.job_id]
