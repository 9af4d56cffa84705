"""The predictor's test settings."""

from pathlib import Path
from typing import Any

from predictor.config import Settings


def predictor_settings(training_config: Path, models_dir: Path, **overrides: Any) -> Settings:
    """Settings with every field that matters given explicitly; `overrides` replace any."""
    values: dict[str, Any] = {
        "TRAINING_CONFIG": training_config,
        "MODEL_DIR": models_dir,
        "MODEL_VERSION": None,
        "TRAIN_IF_MISSING": True,
        "MAX_INPUT_CHARS": 200,
        "BATCHING_ENABLED": True,
        "BATCH_MAX_SIZE": 64,
        "BATCH_MAX_WAIT_MS": 0.0,
        "LOG_LEVEL": "warning",
    }
    return Settings(**(values | overrides))


def settings_with(settings: Settings, **overrides: Any) -> Settings:
    """A validated copy of `settings` with some fields replaced."""
    return Settings(**(settings.model_dump() | overrides))
