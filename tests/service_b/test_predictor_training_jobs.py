"""Training jobs through the admin API: what their versions do next (if_better, never),
how they fail (the training's own error, TRAIN_TIMEOUT_S, a shutdown), the bounded queue,
and reading the records back."""

import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model_store import ModelStore
from predictor.training_config import TrainingConfig
from predictor.training_jobs import JobStore
from predictor.training_queue import RETRY_AFTER_WITHOUT_HISTORY_S, SHUT_DOWN
from predictor.training_service import ShippedData
from tests.support.asgi import serve
from tests.support.lifecycle import (
    ADMIN_HEADERS,
    BlockableRecipe,
    HeldTrainingLock,
    finished_job,
    job_reaching,
)
from tests.support.predictor import settings_with

TEXT = "the kitten purrs"


async def submit(client: httpx.AsyncClient, body: object = None) -> httpx.Response:
    return await client.post("/train", json={} if body is None else body, headers=ADMIN_HEADERS)


async def served_version(client: httpx.AsyncClient) -> str:
    version: str = (await client.post("/predict", json={"input": TEXT})).json()["model_version"]
    return version


@pytest.fixture
async def blocked_client(
    admin_settings: Settings, models_with_versions: Path, blockable_recipe: BlockableRecipe
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app (TRAIN_QUEUE_SIZE 1) whose training processes never get to train."""
    settings = settings_with(
        admin_settings, TRAINING_CONFIG=blockable_recipe.path, TRAIN_QUEUE_SIZE=1
    )
    async with serve(create_app(settings)) as client:
        blockable_recipe.block()
        yield client


async def running_job(client: httpx.AsyncClient) -> str:
    """Submit a job and wait until it runs (in a blocked app: for as long as the app does)."""
    response = await submit(client)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    await job_reaching(client, job_id, ("running",))
    return job_id


# What the new version does next.


async def test_if_better_leaves_a_worse_version_unserved(admin_client: httpx.AsyncClient) -> None:
    job = await finished_job(admin_client, {"params": {"C": 0.0001}, "activate": "if_better"})

    decision = job["activation"]
    assert job["status"] == "succeeded", job["error"]
    assert decision["activated"] is False
    assert decision["metric"] == "holdout_accuracy"
    assert decision["candidate_value"] == job["metrics"]["holdout_accuracy"]
    assert (decision["active_version"], decision["active_value"]) == ("v4", 1.0)
    assert decision["candidate_value"] < decision["active_value"]
    assert await served_version(admin_client) == "v4"


async def test_if_better_serves_a_better_version(admin_client: httpx.AsyncClient) -> None:
    await admin_client.post("/models/v1/activate", headers=ADMIN_HEADERS)  # the weak one

    job = await finished_job(admin_client, {"activate": "if_better"})

    decision = job["activation"]
    assert decision["activated"] is True, decision["reason"]
    assert decision["active_version"] == "v1"
    assert decision["candidate_value"] > decision["active_value"]
    assert await served_version(admin_client) == job["version"] == "v5"


async def test_activate_never_publishes_the_version_without_serving_it(
    admin_client: httpx.AsyncClient, models_with_versions: Path
) -> None:
    job = await finished_job(admin_client, {"activate": "never"})

    assert job["version"] == "v5"
    assert job["activation"] == {
        "activated": False,
        "reason": "activate is never",
        "metric": None,
        "candidate_value": None,
        "active_version": None,
        "active_value": None,
    }
    assert ModelStore(models_with_versions).has_version("v5")
    assert await served_version(admin_client) == "v4"


# How a job fails.


async def test_failed_training_is_reported_in_the_job_on_one_line(
    admin_client: httpx.AsyncClient, models_with_versions: Path, tiny_config: TrainingConfig
) -> None:
    # Valid params (min_df is not above the texts trained on), but no word or character
    # n-gram is in all of the tiny dataset's training texts: scikit-learn keeps none.
    shipped = ShippedData.of(tiny_config)
    trained_on = shipped.rows - math.ceil(tiny_config.data.test_fraction * shipped.rows)
    every_text = {"ngram_range": [3, 3], "min_df": trained_on}
    body = {"params": {"features": {"word": every_text, "char": every_text}}}

    job = await finished_job(admin_client, body)

    assert job["status"] == "failed"
    assert job["error"].startswith("ValueError: ")
    assert "\n" not in job["error"]
    assert job["version"] is None
    assert ModelStore(models_with_versions).published_versions() == ["v1", "v2", "v3", "v4"]


async def test_training_past_train_timeout_s_is_killed_and_failed(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    settings = settings_with(admin_settings, TRAIN_TIMEOUT_S=0.01)

    async with serve(create_app(settings)) as client:
        job = await finished_job(client, {})

    assert job["status"] == "failed"
    assert job["error"] == "ran past TRAIN_TIMEOUT_S=0.01"
    assert ModelStore(models_with_versions).published_versions() == ["v1", "v2", "v3", "v4"]


async def test_jobs_cut_short_by_a_shutdown_are_marked_failed(
    admin_settings: Settings, models_with_versions: Path, blockable_recipe: BlockableRecipe
) -> None:
    settings = settings_with(admin_settings, TRAINING_CONFIG=blockable_recipe.path)
    async with serve(create_app(settings)) as client:
        blockable_recipe.block()
        running = await running_job(client)
        waiting = (await submit(client)).json()["job_id"]

    jobs = JobStore(models_with_versions)
    for job_id in (running, waiting):
        job = jobs.get(job_id)
        assert job is not None
        assert (job.status, job.error) == ("failed", SHUT_DOWN)


async def test_job_waiting_for_another_process_training_is_failed_at_shutdown(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    with HeldTrainingLock(models_with_versions) as other_training:
        async with serve(create_app(admin_settings)) as client:
            job_id = (await submit(client)).json()["job_id"]
            await other_training.runner_waits()

    job = JobStore(models_with_versions).get(job_id)
    assert job is not None
    assert (job.status, job.error) == ("failed", SHUT_DOWN)


async def test_job_waits_while_another_process_trains(
    admin_settings: Settings, models_with_versions: Path, blockable_recipe: BlockableRecipe
) -> None:
    # MODEL_POLL_S is also how often a waiting job checks the lock.
    settings = settings_with(
        admin_settings, TRAINING_CONFIG=blockable_recipe.path, MODEL_POLL_S=0.05
    )
    with HeldTrainingLock(models_with_versions) as other_training:
        async with serve(create_app(settings)) as client:
            blockable_recipe.block()
            job_id = (await submit(client)).json()["job_id"]
            await other_training.runner_waits()
            waiting = await client.get(f"/train/jobs/{job_id}", headers=ADMIN_HEADERS)
            other_training.release()
            running = await job_reaching(client, job_id, ("running",))

    assert (waiting.json()["status"], waiting.json()["started_at"]) == ("queued", None)
    assert running["started_at"] is not None


# The bounded queue.


async def test_job_beyond_train_queue_size_is_answered_429_with_retry_after(
    blocked_client: httpx.AsyncClient,
) -> None:
    await running_job(blocked_client)
    waiting = await submit(blocked_client)

    refused = await submit(blocked_client)

    assert waiting.status_code == 202
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Training queue is full; retry later"}
    assert refused.headers["retry-after"] == str(RETRY_AFTER_WITHOUT_HISTORY_S)


async def test_jobs_sent_back_to_back_to_an_idle_queue_are_both_accepted(
    blocked_client: httpx.AsyncClient,
) -> None:
    first, second = await submit(blocked_client), await submit(blocked_client)

    assert (first.status_code, second.status_code) == (202, 202)
    assert (await submit(blocked_client)).status_code == 429


async def test_refused_job_is_not_recorded(blocked_client: httpx.AsyncClient) -> None:
    accepted = [await running_job(blocked_client), (await submit(blocked_client)).json()["job_id"]]
    await submit(blocked_client)

    jobs = (await blocked_client.get("/train/jobs", headers=ADMIN_HEADERS)).json()["jobs"]

    assert sorted(job["job_id"] for job in jobs) == sorted(accepted)


# Reading the records.


async def test_job_list_is_newest_first_and_limited(blocked_client: httpx.AsyncClient) -> None:
    oldest = await running_job(blocked_client)
    newest = (await submit(blocked_client)).json()["job_id"]

    everything = await blocked_client.get("/train/jobs", headers=ADMIN_HEADERS)
    limited = await blocked_client.get("/train/jobs?limit=1", headers=ADMIN_HEADERS)

    assert [job["job_id"] for job in everything.json()["jobs"]] == [newest, oldest]
    assert [job["job_id"] for job in limited.json()["jobs"]] == [newest]


async def test_job_record_shows_the_requested_params_and_examples(
    blocked_client: httpx.AsyncClient,
) -> None:
    body = {
        "params": {"C": 5.0, "features": {"char": {"ngram_range": [1, 4]}}},
        "examples": [{"text": "a kitten naps", "label": "cat"}],
        "activate": "never",
    }

    job_id = (await submit(blocked_client, body)).json()["job_id"]

    job = (await blocked_client.get(f"/train/jobs/{job_id}", headers=ADMIN_HEADERS)).json()
    assert job["params"] == body["params"]
    assert (job["examples"], job["activate"]) == (1, "never")


async def test_unknown_job_is_answered_404(admin_client: httpx.AsyncClient) -> None:
    response = await admin_client.get(f"/train/jobs/{'a' * 32}", headers=ADMIN_HEADERS)

    assert response.status_code == 404
    assert response.json() == {"detail": "Training job not found"}


@pytest.mark.parametrize("path", ["/train/jobs/not-a-job", "/train/jobs?limit=0"])
async def test_malformed_job_query_is_answered_422(
    admin_client: httpx.AsyncClient, path: str
) -> None:
    response = await admin_client.get(path, headers=ADMIN_HEADERS)

    assert response.status_code == 422


async def test_job_records_survive_a_restart(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    settings = settings_with(admin_settings, TRAIN_TIMEOUT_S=0.01)
    async with serve(create_app(settings)) as client:
        before = await finished_job(client, {})

    async with serve(create_app(settings)) as client:
        after = await client.get(f"/train/jobs/{before['job_id']}", headers=ADMIN_HEADERS)

    assert after.json() == before
