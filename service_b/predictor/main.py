"""App factory, lifespan (the model slot, scorer and model thread) and the uvicorn entry point."""

import asyncio
import logging
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
from predictor.startup import plan_startup, serve_first_version, train_first_version
from service_common.app import create_service_app
from service_common.draining import Draining
from service_common.errors import StartupError
from service_common.server import ServerStopper, ServiceEntry, Stopper
from service_common.settings import load_settings

logger = logging.getLogger(__name__)

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


def create_app(
    settings: Settings | None = None,
    model: LoadedModel | None = None,
    stopper: Stopper | None = None,
    served: bool = False,
) -> FastAPI:
    """Build the app.

    `model` is served as it is (`ENTRY` passes the one it checked and loaded; tests pass
    a tiny one); without it, the lifespan loads the configured version, or trains a
    first one in the background. `stopper` stops the server if that training fails (by
    default: a SIGTERM to this process). `served`: the one app of a server process (see
    create_service_app).
    """
    settings = settings or load_settings(Settings)
    stop_service = (stopper or ServerStopper()).stop

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            slot = ModelSlot(model)
            if model is None:
                plan = await asyncio.to_thread(plan_startup, settings)
                slot.model = plan.model
                if plan.model is None:
                    training = asyncio.create_task(serve_first_version(plan, slot, stop_service))
                    stack.callback(training.cancel)
            # Model calls run on one thread: the event loop keeps answering, and calls
            # never overlap.
            executor = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
            )
            scorer: Scorer
            if settings.BATCHING_ENABLED:
                batcher = MicroBatcher(
                    slot,
                    executor,
                    settings.BATCH_MAX_SIZE,
                    settings.BATCH_MAX_WAIT_MS / 1000,
                    drain_timeout=settings.SHUTDOWN_GRACE_S,
                )
                scorer = await stack.enter_async_context(batcher)
            else:
                scorer = DirectScorer(slot, executor)
            yield {
                "model_slot": slot,
                "predictions": PredictionService(scorer, settings),
                "draining": Draining(),
            }

    return create_service_app(
        title="Service B: ML predictor",
        description=DESCRIPTION,
        version=API_VERSION,
        tags=TAGS,
        router=router,
        lifespan=lifespan,
        max_body_bytes=settings.MAX_BODY_BYTES,
        body_example=BODY_EXAMPLE,
        freeze_gc_after_startup=served,
    )


def checked_app(settings: Settings, stopper: ServerStopper | None) -> FastAPI:
    """The app with the model start-up checked and loaded here, before the server starts:
    a StartupError (one line) instead of a traceback from the lifespan."""
    return create_app(settings, model=plan_startup(settings).model, stopper=stopper, served=True)


def create_served_app() -> FastAPI:
    """The app a worker process serves: settings from the environment."""
    return create_app(served=True)


def prepare_workers(settings: Settings) -> None:
    """Before several workers start: check start-up, and train a first version once, here,
    so the workers do not each train their own."""
    plan = plan_startup(settings)
    if plan.model is None:
        try:
            train_first_version(plan)
        except Exception as error:
            raise StartupError(
                f"Start-up training failed: {type(error).__name__}: {error}"
            ) from None
    logger.info("Start-up checks passed; starting %d workers", settings.WORKERS)


ENTRY = ServiceEntry(
    settings_class=Settings,
    build_app=checked_app,
    prepare_workers=prepare_workers,
    factory="predictor.main:create_served_app",
    service_root=SERVICE_ROOT,
    loggers=LOGGERS,
)
"""`python main.py` runs `ENTRY.run()`; `uvicorn main:app` imports `ENTRY.imported_app()`."""
