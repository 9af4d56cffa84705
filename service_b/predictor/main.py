"""App factory, lifespan (the model slot, scorer and model thread) and the uvicorn entry point."""

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from predictor.config import SERVICE_ROOT, Settings
from predictor.dependencies import State
from predictor.model import LoadedModel
from predictor.prediction import PredictionService
from predictor.routes import router
from predictor.scoring import DirectScorer, MicroBatcher, ModelSlot, Scorer
from predictor.startup import start_serving
from service_common.app import create_service_app
from service_common.server import ServiceEntry
from service_common.settings import load_settings

API_VERSION = "1.0.0"
LOGGERS = ("predictor",)
BODY_EXAMPLE = '{"input": "my cat purrs"}'

DESCRIPTION = """
The ML predictor of the two-service lab: a scikit-learn text classifier (TF-IDF + logistic
regression) that labels short texts as **cat**, **dog**, **bird**, **fish** or **rabbit**.

Models are trained reproducibly from a committed dataset and config, published as
immutable versions (`v1`, `v2`, ...), verified by sha256 and loaded once at start-up.
Concurrent requests are scored together in adaptive micro-batches.
"""
TAGS = [
    {"name": "model", "description": "Predictions and the served model's metadata."},
    {"name": "service", "description": "Service info, liveness and readiness."},
]


def create_app(settings: Settings | None = None, model: LoadedModel | None = None) -> FastAPI:
    """Build the app; `model` skips loading from disk (tests pass a tiny one)."""
    settings = settings or load_settings(Settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        slot = ModelSlot(model)
        async with AsyncExitStack() as stack:
            # Model calls run on one thread: the event loop keeps answering, and calls
            # never overlap.
            executor = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
            )
            background = None if model else await start_serving(settings, slot)
            if background is not None:
                stack.callback(background.cancel)
            scorer: Scorer
            if settings.BATCHING_ENABLED:
                batcher = MicroBatcher(
                    slot, executor, settings.BATCH_MAX_SIZE, settings.BATCH_MAX_WAIT_MS / 1000
                )
                scorer = await stack.enter_async_context(batcher)
            else:
                scorer = DirectScorer(slot, executor)
            yield {"model_slot": slot, "predictions": PredictionService(scorer, settings)}

    return create_service_app(
        title="Service B: ML predictor",
        description=DESCRIPTION,
        version=API_VERSION,
        tags=TAGS,
        router=router,
        lifespan=lifespan,
        max_body_bytes=settings.MAX_BODY_BYTES,
        body_example=BODY_EXAMPLE,
    )


ENTRY = ServiceEntry(
    settings_class=Settings,
    build_app=lambda settings, _: create_app(settings),
    factory="predictor.main:create_app",
    service_root=SERVICE_ROOT,
    loggers=LOGGERS,
)
"""`python main.py` runs `ENTRY.run()`; `uvicorn main:app` imports `ENTRY.imported_app()`."""
