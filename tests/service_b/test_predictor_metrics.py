"""The predictor's GET /metrics: requests, predictions by version and class, model calls
and batch sizes, the queue, the served version and training jobs, read back as a scrape."""

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from predictor.config import Settings
from predictor.main import create_app
from predictor.model import LoadedModel
from tests.support.asgi import serve
from tests.support.fake_pipeline import FakePipeline, fake_model
from tests.support.lifecycle import ADMIN_HEADERS, finished_job
from tests.support.metrics import Scrape, scrape
from tests.support.predictor import settings_with
from tests.support.tiny_dataset import varied_texts

HANG_GUARD_S = 5.0
POLL_S = 0.01


class HeldPipeline(FakePipeline):
    """A FakePipeline whose calls wait until `release` is set (at most HANG_GUARD_S)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.started.set()
        self.release.wait(HANG_GUARD_S)
        return super().predict_proba(texts)


async def post_all(client: httpx.AsyncClient, texts: list[str]) -> list[httpx.Response]:
    return await asyncio.gather(*(client.post("/predict", json={"input": t}) for t in texts))


def predictions_by_version_and_class(metrics: Scrape) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["model_version"], sample.labels["class"]): sample.value
        for sample in metrics.matching("predictor_predictions_total")
    }


async def queue_depth_reaching(client: httpx.AsyncClient, depth: float) -> float:
    """predictor_queue_depth once it is at least `depth`; fails after HANG_GUARD_S."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        seen = (await scrape(client)).value("predictor_queue_depth")
        if seen >= depth:
            return seen
        assert time.monotonic() < deadline, f"queue depth stayed {seen}, below {depth}"
        await asyncio.sleep(POLL_S)


# HTTP requests.


async def test_predictions_are_counted_as_200s_of_the_predict_route(
    client: httpx.AsyncClient,
) -> None:
    for text in varied_texts(3):
        assert (await client.post("/predict", json={"input": text})).status_code == 200

    metrics = await scrape(client)

    assert metrics.value("http_requests_total", route="/predict", method="POST", status="200") == 3
    assert (
        metrics.value("http_request_duration_seconds_count", route="/predict", method="POST") == 3
    )


async def test_a_bad_body_is_counted_as_a_422_of_the_predict_route(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/predict", json={"input": "   "})).status_code == 422
    assert (await client.post("/predict", json={"text": "a cat"})).status_code == 422

    metrics = await scrape(client)

    assert metrics.value("http_requests_total", route="/predict", method="POST", status="422") == 2
    assert metrics.total("http_requests_total", route="/predict", status="200") == 0
    assert predictions_by_version_and_class(metrics) == {}


# Predictions and model calls.


async def test_predictions_are_counted_by_the_version_and_class_answered(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    answers = [(await client.post("/predict", json={"input": t})).json() for t in varied_texts(40)]

    metrics = await scrape(client)

    answered = Counter((body["model_version"], body["prediction"]["class"]) for body in answers)
    assert len(answered) > 1  # several classes, so a mix-up of classes would show
    assert {version for version, _ in answered} == {tiny_model.version}
    assert predictions_by_version_and_class(metrics) == dict(answered)


async def test_a_prediction_by_a_named_version_is_counted_under_that_version(
    admin_client: httpx.AsyncClient,
) -> None:
    named = await admin_client.post("/models/v2/predict", json={"input": "the kitten purrs"})
    served = await admin_client.post("/predict", json={"input": "the kitten purrs"})

    metrics = await scrape(admin_client)

    assert (named.json()["model_version"], served.json()["model_version"]) == ("v2", "v4")
    counted = predictions_by_version_and_class(metrics)
    assert counted == {
        ("v2", named.json()["prediction"]["class"]): 1,
        ("v4", served.json()["prediction"]["class"]): 1,
    }


async def test_each_model_call_is_timed_once(settings: Settings) -> None:
    fake = FakePipeline()
    app = create_app(settings_with(settings, BATCHING_ENABLED=False), model=fake_model(fake))
    async with serve(app) as client:
        for text in varied_texts(7):
            await client.post("/predict", json={"input": text})
        metrics = await scrape(client)

    assert len(fake.calls) == 7
    assert metrics.value("predictor_model_call_duration_seconds_count") == 7
    assert metrics.value("predictor_model_call_duration_seconds_sum") > 0


# Batch sizes.


async def test_concurrent_requests_are_counted_in_the_batches_they_were_scored_in(
    settings: Settings,
) -> None:
    fake = FakePipeline(delay=0.005)
    app = create_app(settings_with(settings, BATCHING_ENABLED=True), model=fake_model(fake))
    async with serve(app) as client:
        responses = await post_all(client, varied_texts(60))
        metrics = await scrape(client)

    assert all(response.status_code == 200 for response in responses)
    assert max(fake.batch_sizes) > 1  # they were batched
    assert metrics.value("predictor_batch_size_sum") == 60
    assert metrics.value("predictor_batch_size_count") == len(fake.batch_sizes)
    assert metrics.value("predictor_model_call_duration_seconds_count") == len(fake.batch_sizes)


async def test_without_batching_every_batch_counted_is_of_one(settings: Settings) -> None:
    fake = FakePipeline(delay=0.005)
    app = create_app(settings_with(settings, BATCHING_ENABLED=False), model=fake_model(fake))
    async with serve(app) as client:
        await post_all(client, varied_texts(20))
        metrics = await scrape(client)

    assert metrics.value("predictor_batch_size_count") == 20
    assert metrics.value("predictor_batch_size_sum") == 20
    assert metrics.value("predictor_batch_size_bucket", le="1.0") == 20


# The queue.


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "direct"])
async def test_queue_depth_is_zero_when_idle_after_requests(
    settings: Settings, batching: bool
) -> None:
    app = create_app(
        settings_with(settings, BATCHING_ENABLED=batching), model=fake_model(FakePipeline())
    )
    async with serve(app) as client:
        await post_all(client, varied_texts(30))
        await client.post("/predict", json={"input": "   "})  # refused before any queue
        metrics = await scrape(client)

    assert metrics.value("predictor_queue_depth") == 0


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "direct"])
async def test_queue_depth_counts_the_texts_waiting_behind_a_busy_model(
    settings: Settings, batching: bool
) -> None:
    held = HeldPipeline()
    app = create_app(settings_with(settings, BATCHING_ENABLED=batching), model=fake_model(held))
    async with serve(app) as client:
        try:
            first = asyncio.ensure_future(client.post("/predict", json={"input": "first"}))
            await asyncio.to_thread(held.started.wait, HANG_GUARD_S)
            waiting = asyncio.gather(
                *(client.post("/predict", json={"input": t}) for t in varied_texts(5))
            )
            busy_depth = await queue_depth_reaching(client, 5)
        finally:
            held.release.set()
        answers = [await first, *await waiting]
        idle_depth = (await scrape(client)).value("predictor_queue_depth")

    assert [answer.status_code for answer in answers] == [200] * 6
    assert busy_depth >= 5
    assert idle_depth == 0


@pytest.mark.parametrize("batching", [True, False], ids=["batching", "direct"])
async def test_a_text_the_model_is_scoring_is_not_counted_as_waiting(
    settings: Settings, batching: bool
) -> None:
    # With and without batching, the gauge counts the texts waiting, not the one scored.
    held = HeldPipeline()
    app = create_app(settings_with(settings, BATCHING_ENABLED=batching), model=fake_model(held))
    async with serve(app) as client:
        try:
            lone = asyncio.ensure_future(client.post("/predict", json={"input": "alone"}))
            await asyncio.to_thread(held.started.wait, HANG_GUARD_S)
            depth_while_scoring = (await scrape(client)).value("predictor_queue_depth")
        finally:
            held.release.set()
        assert (await lone).status_code == 200

    assert depth_while_scoring == 0


# The served version.


async def test_model_info_is_one_for_the_served_version(
    client: httpx.AsyncClient, tiny_model: LoadedModel
) -> None:
    metrics = await scrape(client)

    assert metrics.value("predictor_model_info", model_version=tiny_model.version) == 1
    assert metrics.label_sets("predictor_model_info") == [{"model_version": tiny_model.version}]


async def test_after_an_activation_model_info_is_one_for_the_new_version_and_zero_for_the_old(
    admin_client: httpx.AsyncClient,
) -> None:
    before = await scrape(admin_client)

    activation = await admin_client.post("/models/v2/activate", headers=ADMIN_HEADERS)

    assert activation.status_code == 200, activation.text
    after = await scrape(admin_client)
    assert before.value("predictor_model_info", model_version="v4") == 1
    assert after.value("predictor_model_info", model_version="v2") == 1
    assert after.value("predictor_model_info", model_version="v4") == 0


async def test_a_rollback_and_forward_again_leaves_one_version_at_one(
    admin_client: httpx.AsyncClient,
) -> None:
    for version in ("v2", "v3", "v4"):
        response = await admin_client.post(f"/models/{version}/activate", headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text

    metrics = await scrape(admin_client)

    info = {s.labels["model_version"]: s.value for s in metrics.matching("predictor_model_info")}
    assert info == {"v2": 0, "v3": 0, "v4": 1}


# Training jobs.


async def test_a_succeeded_training_job_is_counted_through_each_status_and_timed(
    admin_client: httpx.AsyncClient,
) -> None:
    job = await finished_job(admin_client, {"activate": "never"})

    metrics = await scrape(admin_client)

    assert job["status"] == "succeeded", job["error"]
    jobs = {s.labels["status"]: s.value for s in metrics.matching("predictor_training_jobs_total")}
    assert jobs == {"queued": 1, "running": 1, "succeeded": 1}
    assert metrics.value("predictor_training_duration_seconds_count") == 1
    assert metrics.value("predictor_training_duration_seconds_sum") > 0


async def test_a_failed_training_job_is_counted_as_failed_and_timed(
    admin_settings: Settings, models_with_versions: Path
) -> None:
    settings = settings_with(admin_settings, TRAIN_TIMEOUT_S=0.01)
    async with serve(create_app(settings)) as client:
        job = await finished_job(client, {})
        metrics = await scrape(client)

    assert job["status"] == "failed"
    jobs = {s.labels["status"]: s.value for s in metrics.matching("predictor_training_jobs_total")}
    assert jobs == {"queued": 1, "running": 1, "failed": 1}
    assert metrics.value("predictor_training_duration_seconds_count") == 1


async def test_no_training_job_is_counted_before_any_is_submitted(
    admin_client: httpx.AsyncClient,
) -> None:
    metrics = await scrape(admin_client)

    assert metrics.total("predictor_training_jobs_total") == 0
    assert metrics.value("predictor_training_duration_seconds_count") == 0


# Switched off.


async def test_with_metrics_disabled_there_is_no_metrics_route_and_predictions_still_work(
    settings: Settings, tiny_model: LoadedModel
) -> None:
    app = create_app(settings_with(settings, METRICS_ENABLED=False), model=tiny_model)
    async with serve(app) as client:
        metrics = await client.get("/metrics")
        prediction = await client.post("/predict", json={"input": "the kitten purrs"})
        health = await client.get("/health")

    assert metrics.status_code == 404
    assert prediction.status_code == 200
    assert prediction.json()["model_version"] == tiny_model.version
    assert health.status_code == 200
