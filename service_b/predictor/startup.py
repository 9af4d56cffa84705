"""What the predictor serves when it starts: the configured version, or a first version
trained in the background when the model folder has none."""

import asyncio
import logging
from pathlib import Path

from predictor.config import Settings
from predictor.errors import NoModelVersion
from predictor.model import load_model
from predictor.model_store import ModelStore
from predictor.scoring import ModelSlot
from predictor.training import TrainingConfig, train

logger = logging.getLogger(__name__)


def models_dir_for(settings: Settings) -> Path:
    """MODEL_DIR, or the training config's output_dir when it is unset."""
    if settings.model_dir_override is not None:
        return settings.model_dir_override
    return TrainingConfig.from_file(settings.training_config_path).models_dir


async def start_serving(settings: Settings, slot: ModelSlot) -> asyncio.Task[None] | None:
    """Load the configured version into `slot` now, or start training a first one.

    A version that exists but fails its checks stops start-up with a clear error. With
    no version at all, the service starts unready (503 on /ready) and trains one in the
    background; the task is returned so the lifespan can cancel it.
    """
    store = ModelStore(models_dir_for(settings))
    try:
        version_dir = store.version_dir(settings.MODEL_VERSION)
    except NoModelVersion:
        if not settings.TRAIN_IF_MISSING:
            raise
        logger.warning("No model version in %s: training one before serving", store.root)
        return asyncio.create_task(train_then_load(settings, slot, store))
    slot.model = await asyncio.to_thread(load_model, version_dir)
    return None


async def train_then_load(settings: Settings, slot: ModelSlot, store: ModelStore) -> None:
    try:
        config = TrainingConfig.from_file(settings.training_config_path)
        published = await asyncio.to_thread(train, config, store)
        slot.model = await asyncio.to_thread(load_model, published.directory)
    except Exception:
        logger.exception("Start-up training failed; the service stays unready")
