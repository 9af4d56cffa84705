"""App factory, lifespan (the model slot, scorer and model thread) and the uvicorn entry point."""

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from predictor.admin_auth import AdminGuard
from predictor.config import SERVICE_ROOT, Settings
from predictor.dependencies import State
from predictor.metrics import PredictorMetrics
from predictor.model import LoadedModel
from predictor.model_versions import VersionRegistry, following
from predictor.prediction import PredictionService
from predictor.routes import SERVICE_NAME, router
from predictor.scoring import DirectScorer, MicroBatcher, ModelSlot, Scorer
from predictor.startup import (
    StartupPlan,
    plan_startup,
    serve_first_version,
    train_first_version,
)
from predictor.training_jobs import JobStore
from predictor.training_queue import TrainingCommand, TrainingQueue
from predictor.training_service import ShippedData, TrainingService
from service_common.app import create_service_app
from service_common.draining import Draining
from service_common.errors import StartupError
from service_common.observability import observability
from service_common.server import ServerStopper, ServiceEntry, Stopper
from service_common.settings import load_settings

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
LOGGERS = ("predictor",)
BODY_EXAMPLE = '{"input": "my cat purrs"}'
TRAIN_BODY_EXAMPLE = '{"params": {"C": 5.0}, "activate": "if_better"}'

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
    {
        "name": "admin",
        "description": "Training jobs, the model versions and activation; each route needs "
        "`Authorization: Bearer <ADMIN_TOKEN>` (403 while ADMIN_TOKEN is unset).",
    },
]


def create_app(
    settings: Settings | None = None,
    model: LoadedModel | None = None,
    stopper: Stopper | None = None,
    served: bool = False,
    plan: StartupPlan | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app.

    `plan` is what start-up serves (`ENTRY` passes the one it checked, with the model
    loaded); without it, the lifespan makes one, which trains a first version in the
    background when there is none. `model` (tests pass a tiny one) is served instead of
    the plan's. `stopper` stops the server if that training fails (by default: a SIGTERM
    to this process). `served`: the one app of a server process (see create_service_app).
    `tracer_provider` replaces the OTLP exporter of spans (tests pass an in-memory one).
    """
    settings = settings or load_settings(Settings)
    stop_service = (stopper or ServerStopper()).stop

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            telemetry = await stack.enter_async_context(
                observability(settings, SERVICE_NAME, tracer_provider)
            )
            metrics = PredictorMetrics(telemetry.registry) if telemetry.registry else None
            startup = (
                plan
                if plan is not None
                else await asyncio.to_thread(plan_startup, settings, model is None)
            )
            slot = ModelSlot(model or startup.model, metrics.serving if metrics else None)
            if slot.model is None:
                training = asyncio.create_task(serve_first_version(startup, slot, stop_service))
                stack.callback(training.cancel)
            versions = VersionRegistry(
                startup.store,
                slot,
                startup.scoring,
                settings.MODEL_CACHE_SIZE,
                pinned=settings.MODEL_VERSION,
            )
            await stack.enter_async_context(following(versions, settings.MODEL_POLL_S))
            # Model calls run on one thread, so the event loop keeps answering and calls
            # never overlap (small batches on the compiled path excepted: MicroBatcher).
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
                    inline_max_chars=settings.BATCH_INLINE_MAX_CHARS,
                    drain_timeout=settings.SHUTDOWN_GRACE_S,
                    metrics=metrics,
                )
                scorer = await stack.enter_async_context(batcher)
            else:
                scorer = DirectScorer(slot, executor, metrics)
            training_service = None
            if startup.admin_config is not None:
                training_service = await stack.enter_async_context(
                    training_service_for(settings, startup, versions, metrics)
                )
            yield {
                "model_slot": slot,
                "predictions": PredictionService(scorer, executor, versions, settings, metrics),
                "draining": Draining(),
                "versions": versions,
                "admin": AdminGuard(settings.ADMIN_TOKEN),
                "training": training_service,
                **telemetry.state,
            }

    return create_service_app(
        title="Service B: ML predictor",
        description=DESCRIPTION,
        version=API_VERSION,
        tags=TAGS,
        router=router,
        lifespan=lifespan,
        max_body_bytes=settings.MAX_BODY_BYTES,
        body_examples={"/predict": BODY_EXAMPLE, "/train": TRAIN_BODY_EXAMPLE},
        schema_limits={
            "PredictRequest": {"input": {"maxLength": settings.MAX_INPUT_CHARS}},
            "LabelledExample": {"text": {"maxLength": settings.MAX_INPUT_CHARS}},
            "TrainRequest": {"examples": {"maxItems": settings.TRAIN_MAX_EXAMPLES}},
        },
        freeze_gc_after_startup=served,
        metrics_enabled=settings.METRICS_ENABLED,
        tracing_enabled=settings.TRACING_ENABLED,
        served_by=settings.REPLICA_NAME,
    )


@asynccontextmanager
async def training_service_for(
    settings: Settings,
    startup: StartupPlan,
    versions: VersionRegistry,
    metrics: PredictorMetrics | None = None,
) -> AsyncIterator[TrainingService]:
    """The training queue, open while the app is: jobs that a shutdown cuts short are
    marked failed, and so, at start, are those a crash cut short."""
    assert startup.admin_config is not None  # nosec B101 # the caller checked; for mypy
    jobs = JobStore(startup.store.root)
    command = TrainingCommand(
        config_path=settings.training_config_path,
        models_root=startup.store.root,
        working_dir=SERVICE_ROOT,
        timeout_s=settings.TRAIN_TIMEOUT_S,
        nice=settings.TRAIN_NICE,
    )
    queue = TrainingQueue(
        jobs, versions, command, settings.TRAIN_QUEUE_SIZE, settings.MODEL_POLL_S, metrics
    )
    shipped = await asyncio.to_thread(ShippedData.of, startup.admin_config)
    async with queue:
        yield TrainingService(queue, jobs, startup.admin_config, versions, settings, shipped)


def checked_app(settings: Settings, stopper: ServerStopper | None) -> FastAPI:
    """The app with the model start-up checked and loaded here, before the server starts:
    a StartupError (one line) instead of a traceback from the lifespan."""
    return create_app(settings, stopper=stopper, served=True, plan=plan_startup(settings))


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
