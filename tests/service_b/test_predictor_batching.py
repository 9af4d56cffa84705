"""Adaptive micro-batching (predictor.scoring): correctness, isolation, size and wait limits.

Waits are checked by what was batched with what, and in which order, with waits long
enough that a wrong one would trip the hang guard; the benchmark measures speed.
"""

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from predictor.config import Settings
from predictor.errors import ModelNotReady, PredictionFailed
from predictor.main import create_app
from predictor.model import LoadedModel
from predictor.prediction import prediction_body
from predictor.scoring import DirectScorer, MicroBatcher, ModelSlot
from tests.support.asgi import serve
from tests.support.clock import ManualClock
from tests.support.fake_pipeline import FakePipeline, expected_score, fake_model
from tests.support.predictor import settings_with
from tests.support.tiny_dataset import varied_texts

POISON = "this text breaks the model"
LONG_WAIT_S = 60.0  # a max_wait no test may sit out: HANG_GUARD_S fails it first
HANG_GUARD_S = 5.0


class RecordingPipeline:
    """Wraps a real pipeline and records the size of every batch it scores."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self.classes_ = pipeline.classes_
        self.batch_sizes: list[int] = []

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.batch_sizes.append(len(texts))
        probabilities: np.ndarray = self._pipeline.predict_proba(texts)
        return probabilities


@asynccontextmanager
async def running_batcher(
    pipeline: FakePipeline,
    max_size: int = 64,
    max_wait: float = 0.002,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[MicroBatcher]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        slot = ModelSlot(fake_model(pipeline))
        async with MicroBatcher(slot, executor, max_size, max_wait, clock) as batcher:
            yield batcher


def fake_app(settings: Settings, pipeline: FakePipeline, **overrides: Any) -> FastAPI:
    """An app serving a FakePipeline, with `settings` changed by `overrides`."""
    return create_app(settings_with(settings, **overrides), model=fake_model(pipeline))


async def post_all(client: httpx.AsyncClient, texts: list[str]) -> list[httpx.Response]:
    return await asyncio.gather(*(client.post("/predict", json={"input": t}) for t in texts))


def expected_body(text: str, version: str = "v-fake") -> dict[str, Any]:
    score = expected_score(text)
    return prediction_body(text, score.label, score.confidence, version)


async def test_concurrent_requests_get_the_same_answers_as_unbatched_ones(
    settings: Settings, tiny_model: LoadedModel
) -> None:
    texts = varied_texts(200)
    recording = RecordingPipeline(tiny_model.pipeline)
    model = LoadedModel(version=tiny_model.version, metadata={}, pipeline=recording)
    async with serve(create_app(settings_with(settings, BATCHING_ENABLED=False), model=model)) as c:
        unbatched = [(await c.post("/predict", json={"input": t})).json() for t in texts]
    recording.batch_sizes.clear()

    async with serve(create_app(settings_with(settings, BATCHING_ENABLED=True), model=model)) as c:
        batched = [response.json() for response in await post_all(c, texts)]

    assert len({json.dumps(body["prediction"]) for body in unbatched}) > 150  # telling apart
    assert batched == unbatched
    assert max(recording.batch_sizes) > 1


async def test_concurrent_callers_each_get_their_own_score() -> None:
    texts = varied_texts(200)
    fake = FakePipeline()

    async with running_batcher(fake) as batcher:
        results = await asyncio.gather(*(batcher.score(text) for text in texts))

    assert results == [(expected_score(text), "v-fake") for text in texts]
    assert max(fake.batch_sizes) > 1


async def test_batched_score_equals_direct_scorer_score(tiny_model: LoadedModel) -> None:
    texts = varied_texts(50)
    with ThreadPoolExecutor(max_workers=1) as executor:
        slot = ModelSlot(tiny_model)
        direct = [await DirectScorer(slot, executor).score(text) for text in texts]
        async with MicroBatcher(slot, executor, max_size=16, max_wait=0.002) as batcher:
            batched = await asyncio.gather(*(batcher.score(text) for text in texts))

    assert batched == direct


async def test_model_error_on_one_text_fails_only_that_caller() -> None:
    texts = [*varied_texts(10), POISON, *varied_texts(20)[10:]]
    fake = FakePipeline(poison=POISON)

    async with running_batcher(fake) as batcher:
        results = await asyncio.gather(
            *(batcher.score(text) for text in texts), return_exceptions=True
        )

    assert any(POISON in call.texts and len(call.texts) > 1 for call in fake.calls)
    for text, result in zip(texts, results, strict=True):
        if text == POISON:
            assert isinstance(result, Exception)
        else:
            assert result == (expected_score(text), "v-fake")


async def test_model_error_on_one_request_is_a_500_for_it_alone(settings: Settings) -> None:
    texts = [*varied_texts(10), POISON, *varied_texts(20)[10:]]
    fake = FakePipeline(poison=POISON)

    async with serve(fake_app(settings, fake)) as client:
        responses = await post_all(client, texts)

    for text, response in zip(texts, responses, strict=True):
        if text == POISON:
            assert response.status_code == 500
            assert response.json() == {"detail": "Prediction failed"}
        else:
            assert response.status_code == 200
            assert response.json() == expected_body(text)


async def test_invalid_request_among_concurrent_ones_fails_only_itself(settings: Settings) -> None:
    texts = [*varied_texts(10), "   ", *varied_texts(20)[10:]]

    async with serve(fake_app(settings, FakePipeline())) as client:
        responses = await post_all(client, texts)

    for text, response in zip(texts, responses, strict=True):
        if text.strip():
            assert response.json() == expected_body(text)
        else:
            assert response.status_code == 422


async def test_batching_disabled_scores_each_request_alone(settings: Settings) -> None:
    texts = varied_texts(30)
    fake = FakePipeline()

    async with serve(fake_app(settings, fake, BATCHING_ENABLED=False)) as client:
        responses = await post_all(client, texts)

    assert [r.json() for r in responses] == [expected_body(t) for t in texts]
    assert fake.batch_sizes == [1] * len(texts)


async def test_batches_never_exceed_max_size() -> None:
    fake = FakePipeline(delay=0.005)

    async with running_batcher(fake, max_size=8) as batcher:
        await asyncio.gather(*(batcher.score(text) for text in varied_texts(100)))

    assert max(fake.batch_sizes) == 8
    assert sum(fake.batch_sizes) == 100


async def test_requests_queued_while_the_model_is_busy_form_the_next_batch_with_no_wait() -> None:
    fake = FakePipeline(delay=0.05)

    async with running_batcher(fake, max_wait=0.0) as batcher:
        first = asyncio.ensure_future(batcher.score("arrives alone"))
        await asyncio.to_thread(fake.started.wait, 5)  # the model is now busy with it
        texts = varied_texts(20)
        results = await asyncio.gather(*(batcher.score(text) for text in texts))
        await first

    assert fake.batch_sizes == [1, 20]
    assert [score for score, _ in results] == [expected_score(t) for t in texts]


async def test_batch_max_size_setting_limits_batches(settings: Settings) -> None:
    fake = FakePipeline(delay=0.005)

    async with serve(fake_app(settings, fake, BATCH_MAX_SIZE=5)) as client:
        responses = await post_all(client, varied_texts(50))

    assert all(r.status_code == 200 for r in responses)
    assert max(fake.batch_sizes) == 5


async def test_lone_request_is_not_held_for_max_wait() -> None:
    fake = FakePipeline()

    async with (
        running_batcher(fake, max_wait=LONG_WAIT_S) as batcher,
        asyncio.timeout(HANG_GUARD_S),
    ):
        score = await batcher.score("a lone cat")

    assert score == (expected_score("a lone cat"), "v-fake")


async def test_lone_request_after_an_idle_pause_is_not_held_for_max_wait() -> None:
    clock = ManualClock(0.0)
    fake = FakePipeline(delay=0.05)

    async with running_batcher(fake, max_wait=LONG_WAIT_S, clock=clock) as batcher:
        # A burst scored in batches of several puts the batcher under load ...
        await asyncio.gather(*(batcher.score(text) for text in varied_texts(20)))
        assert max(fake.batch_sizes) > 1
        clock.now += LONG_WAIT_S + 1  # ... then it idles for longer than max_wait.
        async with asyncio.timeout(HANG_GUARD_S):
            score = await batcher.score("a lone cat")

    assert score == (expected_score("a lone cat"), "v-fake")
    assert fake.calls[-1].texts == ("a lone cat",)


async def test_batch_under_load_waits_for_company_until_it_is_full() -> None:
    fake = FakePipeline(delay=0.2)

    async with running_batcher(fake, max_size=4, max_wait=LONG_WAIT_S) as batcher:
        burst = asyncio.gather(batcher.score("first a"), batcher.score("first b"))
        await asyncio.to_thread(fake.started.wait, HANG_GUARD_S)
        early = asyncio.ensure_future(batcher.score("arrives while the model is busy"))
        await burst  # the model is free now; the early caller waits for company ...
        late = [batcher.score(text) for text in varied_texts(3)]
        async with asyncio.timeout(HANG_GUARD_S):
            await asyncio.gather(early, *late)

    # ... and is scored with the three that came after it, once the batch is full.
    assert fake.batch_sizes == [2, 4]


async def test_batch_that_does_not_fill_is_dispatched_after_max_wait() -> None:
    fake = FakePipeline(delay=0.2)

    async with running_batcher(fake, max_size=100, max_wait=0.3) as batcher:
        burst = asyncio.gather(*(batcher.score(text) for text in varied_texts(10)))
        await asyncio.to_thread(fake.started.wait, HANG_GUARD_S)
        # Arrive while the model is busy with the first batch: that is load.
        second = asyncio.gather(*(batcher.score(text) for text in varied_texts(13)[10:]))
        async with asyncio.timeout(HANG_GUARD_S):
            await burst
            results = await second

    assert [score for score, _ in results] == [expected_score(t) for t in varied_texts(13)[10:]]
    assert fake.batch_sizes == [10, 3]


async def test_full_batch_is_dispatched_without_waiting_for_max_wait() -> None:
    fake = FakePipeline()

    async with running_batcher(fake, max_size=4, max_wait=LONG_WAIT_S) as batcher:
        async with asyncio.timeout(HANG_GUARD_S):
            await asyncio.gather(*(batcher.score(text) for text in varied_texts(12)))

    assert fake.batch_sizes == [4, 4, 4]


@pytest.mark.parametrize(
    ("path", "batching"),
    [("/health", True), ("/health", False), ("/ready", True)],
    ids=["health-batching", "health-direct", "ready-batching"],
)
async def test_service_routes_answer_while_the_model_is_busy(
    settings: Settings, batching: bool, path: str
) -> None:
    fake = FakePipeline(delay=1.0)

    async with serve(fake_app(settings, fake, BATCHING_ENABLED=batching)) as client:
        prediction = asyncio.create_task(client.post("/predict", json={"input": "a slow cat"}))
        assert await asyncio.to_thread(fake.started.wait, HANG_GUARD_S)
        response = await client.get(path)
        # Answered while the model was still busy with the prediction.
        assert not prediction.done()
        assert (await prediction).status_code == 200

    assert response.status_code == 200


async def test_batcher_refuses_callers_when_no_model_is_loaded() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor:
        async with MicroBatcher(ModelSlot(), executor, 8, 0.002) as batcher:
            with pytest.raises(ModelNotReady):
                await batcher.score("a cat")


class ThreadRecording:
    """A compiled path or a pipeline that records the thread each of its calls ran on."""

    def __init__(self, scorer: Any) -> None:
        self._scorer = scorer
        self.classes_ = getattr(scorer, "classes_", None)
        self.threads: list[str] = []

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        probabilities: np.ndarray = self._scorer.predict_proba(texts)
        return probabilities


@pytest.mark.parametrize(
    ("texts", "inline_max_chars", "scored_on"),
    [
        (["a cat", "a dog"], 10, "loop"),
        (["a cat", "a dogs"], 10, "model thread"),
        (["a cat", "a dog"], 0, "model thread"),
    ],
    ids=["within-the-bound", "one-character-over", "bound-0"],
)
async def test_a_small_batch_on_the_compiled_path_is_scored_on_the_event_loop(
    tiny_model: LoadedModel, texts: list[str], inline_max_chars: int, scored_on: str
) -> None:
    assert tiny_model.compiled is not None
    recording = ThreadRecording(tiny_model.compiled)
    model = dataclasses.replace(tiny_model, compiled=recording)  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model") as executor:
        slot = ModelSlot(model)
        direct = [await DirectScorer(ModelSlot(tiny_model), executor).score(t) for t in texts]
        recording.threads.clear()
        async with MicroBatcher(
            slot, executor, max_size=8, max_wait=LONG_WAIT_S, inline_max_chars=inline_max_chars
        ) as batcher:
            async with asyncio.timeout(HANG_GUARD_S):
                batched = await asyncio.gather(*(batcher.score(text) for text in texts))

    assert batched == direct
    on_loop = recording.threads == [threading.current_thread().name]
    on_model_thread = len(recording.threads) == 1 and recording.threads[0].startswith("model")
    assert (on_loop, on_model_thread) == (scored_on == "loop", scored_on == "model thread")


async def test_the_pipeline_path_is_never_scored_on_the_event_loop() -> None:
    recording = ThreadRecording(FakePipeline())
    model = LoadedModel(version="v-fake", metadata={}, pipeline=recording)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model") as executor:
        async with MicroBatcher(
            ModelSlot(model), executor, 8, 0.0, inline_max_chars=1_000_000
        ) as batcher:
            assert await batcher.score("a cat") == (expected_score("a cat"), "v-fake")

    assert [thread.startswith("model") for thread in recording.threads] == [True]


async def test_a_batch_scored_on_the_loop_fails_alone_like_one_on_the_thread(
    tiny_model: LoadedModel,
) -> None:
    assert tiny_model.compiled is not None
    poisoned = PoisonedCompiled(tiny_model.compiled)
    model = dataclasses.replace(tiny_model, compiled=poisoned)  # type: ignore[arg-type]
    texts = ["a cat", POISON, "a dog"]
    with ThreadPoolExecutor(max_workers=1) as executor:
        async with MicroBatcher(
            ModelSlot(model), executor, 8, 0.0, inline_max_chars=1_000
        ) as batcher:
            results = await asyncio.gather(
                *(batcher.score(text) for text in texts), return_exceptions=True
            )

    assert [type(result) for result in results] == [tuple, PredictionFailed, tuple]


class PoisonedCompiled:
    """A compiled path that fails on any batch holding POISON."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if POISON in texts:
            raise ValueError("poisoned")
        probabilities: np.ndarray = self._compiled.predict_proba(texts)
        return probabilities
