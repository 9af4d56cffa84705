"""Scoring requests with the loaded model, one by one or in adaptive micro-batches.

Model calls run on one dedicated thread so the event loop keeps answering (health,
readiness, new requests) while the model works, and so calls never overlap. The one
exception is a small batch on the compiled path (MicroBatcher's `inline_max_chars`): it
is scored on the event loop, because handing it to the thread and its answer back costs
more CPU than scoring it. A text the model fails on raises PredictionFailed, with the
model's error as its cause, in the caller: the caller logs it, in the context of its own
request.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from predictor.errors import ModelNotReady, PredictionFailed
from predictor.metrics import PredictorMetrics
from predictor.model import LoadedModel, Score

logger = logging.getLogger(__name__)


class ModelSlot:
    """Holds the served model once it is loaded; empty while loading or training."""

    def __init__(
        self,
        model: LoadedModel | None = None,
        on_change: Callable[[str | None], None] | None = None,
    ) -> None:
        """`on_change` hears the served version (None: none) now and after each change."""
        self._model = model
        self._on_change = on_change
        if on_change is not None:
            on_change(model.version if model else None)

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    @model.setter
    def model(self, model: LoadedModel | None) -> None:
        self._model = model
        if self._on_change is not None:
            self._on_change(model.version if model else None)

    def require(self) -> LoadedModel:
        if self.model is None:
            raise ModelNotReady()
        return self.model


class Scorer(Protocol):
    async def score(self, text: str) -> tuple[Score, str]:
        """The model's answer for one text and the version of the model that gave it."""
        ...


class DirectScorer:
    """One model call per request."""

    def __init__(
        self,
        slot: ModelSlot,
        executor: ThreadPoolExecutor,
        metrics: PredictorMetrics | None = None,
    ) -> None:
        self._slot = slot
        self._executor = executor
        self._metrics = metrics

    async def score(self, text: str) -> tuple[Score, str]:
        model = self._slot.require()
        return await score_with(self._executor, model, text, self._metrics), model.version


async def score_with(
    executor: ThreadPoolExecutor,
    model: LoadedModel,
    text: str,
    metrics: PredictorMetrics | None = None,
) -> Score:
    """`model`'s answer for one text, from one model call on the model thread."""
    loop = asyncio.get_running_loop()
    waiting = None if metrics is None else WaitingText(metrics)
    try:
        [score] = await loop.run_in_executor(
            executor, _take_and_call, waiting, model, text, metrics
        )
    except Exception as error:
        raise PredictionFailed() from error
    finally:
        if waiting is not None:
            waiting.leave()
    return score


class WaitingText:
    """One text counted in the queue depth until the model thread takes it, or its caller
    stops waiting (cancelled, or the executor shut down), whichever comes first."""

    def __init__(self, metrics: PredictorMetrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._counted = True
        metrics.queued(1)

    def leave(self) -> None:
        # The model thread and the caller's `finally` may both call this; only the first
        # takes the text off the count.
        with self._lock:
            if self._counted:
                self._counted = False
                self._metrics.queued(-1)


def _take_and_call(
    waiting: WaitingText | None, model: LoadedModel, text: str, metrics: PredictorMetrics | None
) -> list[Score]:
    if waiting is not None:
        waiting.leave()
    return timed_call(model, [text], metrics)


def timed_call(
    model: LoadedModel, texts: list[str], metrics: PredictorMetrics | None
) -> list[Score]:
    """`model.score(texts)`, timed for the metrics; runs on the model thread."""
    if metrics is None:
        return model.score(texts)
    started = time.perf_counter()
    scores = model.score(texts)
    metrics.model_called(len(texts), time.perf_counter() - started)
    return scores


class MicroBatcher:
    """Gathers concurrent requests and scores them in one model call.

    While the model scores a batch, new requests queue up and form the next one (at most
    `max_size` of them). With `max_wait` > 0, a batch under load (the previous one held
    more than one request) also waits up to `max_wait` seconds to fill; a lone caller is
    never made to wait. The default is 0: a wait lowered the gateway's forwarding
    throughput, because the predictor then sat idle while the gateway waited for its
    answers (README, Benchmark).

    A batch of at most `inline_max_chars` characters in all, for a model served by its
    compiled path, is scored on the event loop: the compiled path's cost grows with the
    characters it reads, so the bound bounds the loop's pause, and the hand-off to the
    model thread (waking it, the GIL passing twice, waking the loop with the answer) would
    cost more CPU than the call itself. Calls still never overlap: the batcher makes one
    at a time. The scikit-learn pipeline path, whose calls cost milliseconds whatever the
    text, always goes to the model thread.
    """

    def __init__(
        self,
        slot: ModelSlot,
        executor: ThreadPoolExecutor,
        max_size: int,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
        drain_timeout: float = 10.0,
        metrics: PredictorMetrics | None = None,
        inline_max_chars: int = 0,
    ) -> None:
        """`clock` tells how long the batcher has been idle (tests move it by hand);
        `drain_timeout` is how long it keeps scoring what is queued when it stops;
        `inline_max_chars` is the largest batch scored on the event loop (0: none)."""
        self._inline_max_chars = inline_max_chars
        self._metrics = metrics
        self._clock = clock
        self._drain_timeout = drain_timeout
        self._slot = slot
        self._executor = executor
        self._max_size = max_size
        self._max_wait = max_wait
        self._pending: deque[tuple[str, asyncio.Future[tuple[Score, str]]]] = deque()
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is queued or being scored
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "MicroBatcher":
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Score what is queued (for up to `drain_timeout`), then stop; callers still
        waiting after that get ModelNotReady."""
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._drain_timeout):
                    await self._idle.wait()
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while self._pending:
            _, future = self._pending.popleft()
            if self._metrics is not None:
                self._metrics.queued(-1)
            if not future.done():
                future.set_exception(ModelNotReady())

    async def score(self, text: str) -> tuple[Score, str]:
        self._slot.require()
        future: asyncio.Future[tuple[Score, str]] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._metrics is not None:
            self._metrics.queued(1)
        self._idle.clear()
        self._arrived.set()
        return await future

    async def _run(self) -> None:
        under_load = False
        while True:
            if not self._pending:
                self._idle.set()
                idle_since = self._clock()
                self._arrived.clear()
                await self._arrived.wait()
                # A pause longer than max_wait ends a burst: the next caller is not
                # made to wait for company that is not coming.
                if self._clock() - idle_since >= self._max_wait:
                    under_load = False
            if under_load and self._max_wait > 0:
                await self._gather_more()
            batch = [
                self._pending.popleft() for _ in range(min(self._max_size, len(self._pending)))
            ]
            if self._metrics is not None:
                self._metrics.queued(-len(batch))
            under_load = len(batch) > 1
            live = [(text, future) for text, future in batch if not future.done()]
            if live:
                await self._score_batch(live)
            if self._pending:
                # The batch may have been scored on the loop, without yielding: let the
                # loop serve others before the next one.
                await asyncio.sleep(0)

    async def _gather_more(self) -> None:
        """Wait at most max_wait for the batch to fill."""
        try:
            async with asyncio.timeout(self._max_wait):
                while len(self._pending) < self._max_size:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            pass

    async def _score_batch(
        self, batch: list[tuple[str, asyncio.Future[tuple[Score, str]]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        texts = [text for text, _ in batch]
        try:
            model = self._slot.require()
            if scores_on_loop(model, texts, self._inline_max_chars):
                scores = timed_call(model, texts, self._metrics)
            else:
                scores = await loop.run_in_executor(
                    self._executor, timed_call, model, texts, self._metrics
                )
            answers = list(zip(batch, scores, strict=True))
        except Exception as error:
            if len(batch) == 1:
                [(_, future)] = batch
                if not future.done():
                    future.set_exception(prediction_failed(error))
                return
            # The caller whose text failed logs it, with its request id (this task has none).
            logger.warning(
                "Batch of %d failed (%s); scoring its requests one by one",
                len(batch),
                type(error).__name__,
            )
            await self._score_one_by_one(batch)
            return
        for (_, future), score in answers:
            if not future.done():
                future.set_result((score, model.version))

    async def _score_one_by_one(
        self, batch: list[tuple[str, asyncio.Future[tuple[Score, str]]]]
    ) -> None:
        # One bad request must not fail the others it was batched with.
        direct = DirectScorer(self._slot, self._executor, self._metrics)
        for text, future in batch:
            try:
                result = await direct.score(text)
            except Exception as error:
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)


def scores_on_loop(model: LoadedModel, texts: list[str], max_chars: int) -> bool:
    """Whether `texts` are few and short enough to score on the event loop (see
    MicroBatcher): only on the compiled path, whose cost follows the characters."""
    return model.compiled is not None and sum(map(len, texts)) <= max_chars


def prediction_failed(cause: Exception) -> PredictionFailed:
    """PredictionFailed caused by the model's `cause`, as `raise ... from cause` makes it."""
    failure = PredictionFailed()
    failure.__cause__ = cause
    return failure
