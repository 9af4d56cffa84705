"""What the predictor serves when it starts: the configured version, checked before the
server opens its port, or a first version trained in the background when there is none.

Every problem a user can fix (a missing or invalid training config, a model folder that
is not a folder or cannot be written, a version that does not exist or does not verify)
stops start-up with a StartupError whose one line names the setting. A training that
fails in the background stops the service with a non-zero exit: a service that can never
become ready must not stay up looking alive.
"""

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from predictor.config import Settings
from predictor.errors import InvalidTrainingConfig, ModelLoadError, NoModelVersion
from predictor.model import LoadedModel, ScoringOptions, load_model
from predictor.model_store import ACTIVE_NAME, ModelStore
from predictor.scoring import ModelSlot
from predictor.training import load_labelled_texts, train
from predictor.training_config import TrainingConfig
from predictor.training_jobs import JOBS_FOLDER
from service_common.errors import StartupError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartupPlan:
    """The model to serve, or, when `model` is None, the recipe to train a first one with."""

    store: ModelStore
    model: LoadedModel | None
    config: TrainingConfig | None
    scoring: ScoringOptions
    admin_config: TrainingConfig | None = None
    """The recipe training jobs start from; set when the admin API is on (ADMIN_TOKEN)."""


def plan_startup(settings: Settings, load: bool = True) -> StartupPlan:
    """Check everything start-up needs and load the version to serve (blocking); with
    `load` false, only what is needed to serve a model given by the caller.

    Raises StartupError, with one line naming the setting, for any problem.
    """
    config = None if settings.model_dir_override else training_config(settings)
    scoring = scoring_options(settings, config)
    store = ModelStore(settings.model_dir_override or _required(config).models_dir)
    if store.root.exists() and not store.root.is_dir():
        raise StartupError(f"MODEL_DIR={store.root}: not a folder")
    admin_config = None
    if settings.ADMIN_TOKEN is not None:
        admin_config = config or training_config(settings)
        check_training_data(admin_config)
        check_writable(store.root, what="trained model versions")
        check_writable(store.root, JOBS_FOLDER, "training job records")
    if not load:
        return StartupPlan(store, None, config, scoring, admin_config)
    try:
        version_dir = store.served_version_dir(settings.MODEL_VERSION)
    except NoModelVersion as error:
        if not settings.TRAIN_IF_MISSING:
            raise StartupError(f"{error}, and TRAIN_IF_MISSING is false") from None
        config = config or training_config(settings)
        check_training_data(config)
        check_writable(store.root)
        return StartupPlan(store, None, config, scoring, admin_config)
    except ModelLoadError as error:
        raise StartupError(f"{served_setting(settings, store)}: {error}") from None
    try:
        return StartupPlan(store, load_model(version_dir, scoring), config, scoring, admin_config)
    except ModelLoadError as error:
        raise StartupError(f"{served_setting(settings, store)}: {error}") from None


def served_setting(settings: Settings, store: ModelStore) -> str:
    """What chose the version to serve, for a start-up error about it."""
    if settings.MODEL_VERSION:
        return f"MODEL_VERSION={settings.MODEL_VERSION}"
    if (store.root / ACTIVE_NAME).exists():
        return f"MODEL_DIR={store.root} ({ACTIVE_NAME})"
    return f"MODEL_DIR={store.root}"


def scoring_options(settings: Settings, config: TrainingConfig | None) -> ScoringOptions:
    """SCORING_PATH and COMPILED_CACHE_WORDS; a compiled path is checked on the training
    config's holdout texts when there are any (and on generated texts in any case)."""
    if settings.SCORING_PATH == "pipeline":
        return ScoringOptions("pipeline")
    if config is None:
        # MODEL_DIR is set and the recipe is not needed to serve: its holdout is a bonus.
        with contextlib.suppress(StartupError):
            config = training_config(settings)
    holdout_path = (
        config.resolve(config.data.holdout_path) if config and config.data.holdout_path else None
    )
    if holdout_path is None or not holdout_path.is_file():
        return ScoringOptions("compiled", (), settings.COMPILED_CACHE_WORDS)
    try:
        texts = load_labelled_texts(holdout_path).texts
    except (OSError, UnicodeDecodeError, KeyError) as error:
        raise StartupError(
            f"Invalid TRAINING_CONFIG: holdout {holdout_path} cannot be read ({error})"
        ) from None
    return ScoringOptions("compiled", tuple(texts), settings.COMPILED_CACHE_WORDS)


def training_config(settings: Settings) -> TrainingConfig:
    try:
        return TrainingConfig.from_file(settings.training_config_path)
    except InvalidTrainingConfig as error:
        raise StartupError(f"Invalid TRAINING_CONFIG {error}") from None


def check_training_data(config: TrainingConfig) -> None:
    paths = [config.data.train_path, config.data.holdout_path]
    for path in (config.resolve(path) for path in paths if path is not None):
        if not path.is_file():
            raise StartupError(f"Invalid TRAINING_CONFIG: training data {path} is not a file")


def check_writable(models_dir: Path, folder: str = "", what: str = "a first model version") -> None:
    """`what` can be written in `models_dir`/`folder` (created if missing)."""
    target = models_dir / folder
    try:
        target.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=".write-check-", dir=target)).rmdir()
    except OSError as error:
        where = f" in {target}" if folder else " there"
        raise StartupError(
            f"MODEL_DIR={models_dir}: cannot write {what}{where} ({error.strerror or error})"
        ) from None


def _required(config: TrainingConfig | None) -> TrainingConfig:
    assert config is not None, "the training config is read when MODEL_DIR is unset"  # nosec B101 # for mypy
    return config


def train_first_version(plan: StartupPlan) -> LoadedModel:
    """Train, publish and load a first version (blocking): what the plan said to do."""
    logger.warning("No model version in %s: training one before serving", plan.store.root)
    published = train(_required(plan.config), plan.store)
    return load_model(published.directory, plan.scoring)


async def serve_first_version(
    plan: StartupPlan, slot: ModelSlot, stop_service: Callable[[int], None]
) -> None:
    """Train a first version in the background and serve it; on failure, stop the service."""
    try:
        slot.model = await asyncio.to_thread(train_first_version, plan)
    except Exception as error:
        logger.error(
            "Start-up training failed, stopping (exit status 1): %s: %s",
            type(error).__name__,
            error,
        )
        logger.debug("Start-up training failure", exc_info=error)
        stop_service(1)
