"""App factory, lifespan (model loading, scorer) and the uvicorn entry point."""

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware

from predictor import routes
from predictor.config import Settings
from predictor.docs import SWAGGER_UI_PARAMETERS, DocsContentSecurityPolicyMiddleware
from predictor.errors import NoModelVersion, register_error_handlers
from predictor.model import LoadedModel, load_model, resolve_version_dir
from predictor.scoring import DirectScorer, MicroBatcher, ModelSlot, Scorer
from predictor.training import TrainingConfig, train

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
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
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, object]]:
        slot = ModelSlot(model)
        async with AsyncExitStack() as stack:
            executor = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
            )
            background = None if model else await start_loading(settings, slot)
            scorer: Scorer
            if settings.BATCHING_ENABLED:
                batcher = MicroBatcher(
                    slot, executor, settings.BATCH_MAX_SIZE, settings.BATCH_MAX_WAIT_MS / 1000
                )
                scorer = await stack.enter_async_context(batcher)
            else:
                scorer = DirectScorer(slot, executor)
            try:
                yield {"settings": settings, "model_slot": slot, "scorer": scorer}
            finally:
                if background is not None:
                    background.cancel()

    # Swagger UI and ReDoc assets are served from the fastapi-offline package, not a CDN:
    # /docs and /redoc work with no internet access (see predictor.docs).
    app = FastAPIOffline(
        title="Service B: ML predictor",
        description=DESCRIPTION,
        version=API_VERSION,
        openapi_tags=TAGS,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        lifespan=lifespan,
        middleware=[Middleware(DocsContentSecurityPolicyMiddleware)],
    )
    app.include_router(routes.router)
    register_error_handlers(app)
    return app


def models_dir_for(settings: Settings) -> Path:
    if settings.model_dir_override is not None:
        return settings.model_dir_override
    return TrainingConfig.from_file(settings.training_config_path).models_dir


async def start_loading(settings: Settings, slot: ModelSlot) -> asyncio.Task[None] | None:
    """Load the configured version now, or start training a first one in the background.

    A version that exists but fails its checks stops start-up with a clear error. With
    no version at all, the service starts unready (503 on /ready) and trains one.
    """
    models_dir = models_dir_for(settings)
    try:
        version_dir = resolve_version_dir(models_dir, settings.MODEL_VERSION)
    except NoModelVersion:
        if not settings.TRAIN_IF_MISSING:
            raise
        logger.warning("No model version in %s: training one before serving", models_dir)
        return asyncio.create_task(train_then_load(settings, slot, models_dir))
    slot.model = await asyncio.to_thread(load_model, version_dir)
    return None


async def train_then_load(settings: Settings, slot: ModelSlot, models_dir: Path) -> None:
    try:
        config = TrainingConfig.from_file(settings.training_config_path)
        published = await asyncio.to_thread(train, config, models_dir)
        slot.model = await asyncio.to_thread(load_model, published.directory)
    except Exception:
        logger.exception("Start-up training failed; the service stays unready")


def run() -> None:
    """Serve with uvicorn, configured from the environment."""
    settings = Settings()
    logging.basicConfig(
        level=settings.LOG_LEVEL.upper(), format="%(levelname)s:  %(name)s %(message)s"
    )
    uvicorn.run(
        "main:app",
        host=settings.HOST,
        port=settings.PORT,
        reload=settings.RELOAD,
        workers=settings.WORKERS,
        log_level=settings.LOG_LEVEL,
        loop="uvloop",
        http="httptools",
        access_log=settings.ACCESS_LOG,
    )
