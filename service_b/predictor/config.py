"""Predictor settings, read from the environment (one field per variable, no prefix)."""

from pathlib import Path

from pydantic import Field

from predictor.schemas import ScoringPath
from service_common.settings import ServiceSettings

SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""The service_b folder: relative paths in settings and the training config start here."""


class Settings(ServiceSettings):
    """Every knob of the predictor; each field is one environment variable."""

    PORT: int = Field(8001, ge=1, le=65535)
    """TCP port uvicorn listens on."""

    TRAINING_CONFIG: Path = Path("training.toml")
    """Training config file (TOML), relative to service_b/ unless absolute."""

    MODEL_DIR: Path | None = None
    """Folder holding the model versions (v1, v2, ...); defaults to the training config's
    output_dir."""

    MODEL_VERSION: str | None = Field(None, pattern=r"^v[1-9][0-9]*$")
    """Version to serve, e.g. v3; the newest one when unset."""

    TRAIN_IF_MISSING: bool = True
    """Train a first version at start-up when the model folder has none."""

    MAX_INPUT_CHARS: int = Field(10_000, ge=1)
    """Longest accepted `input`, in characters."""

    BATCHING_ENABLED: bool = True
    """Score concurrent requests together."""

    BATCH_MAX_SIZE: int = Field(64, ge=1)
    """Most requests scored in one model call."""

    BATCH_MAX_WAIT_MS: float = Field(0.0, ge=0, le=1000, allow_inf_nan=False)
    """Longest time a batch waits for more requests to join it, under load. 0: no waiting;
    a batch is whatever queued while the model scored the previous one."""

    SCORING_PATH: ScoringPath = "compiled"
    """`compiled`: score with arrays compiled from the fitted pipeline at load, once they
    give its answers on a sample of texts (else the pipeline serves, logged); `pipeline`:
    score with scikit-learn's Pipeline itself."""

    COMPILED_CACHE_WORDS: int = Field(65_536, ge=0, le=10_000_000)
    """Words (of up to 32 characters) whose character n-gram features the compiled path
    remembers, the least recently used dropped first; 0: none."""

    @property
    def training_config_path(self) -> Path:
        return resolve_from_service_root(self.TRAINING_CONFIG)

    @property
    def model_dir_override(self) -> Path | None:
        return resolve_from_service_root(self.MODEL_DIR) if self.MODEL_DIR else None


def resolve_from_service_root(path: Path) -> Path:
    """Anchor a relative path at service_b/ so the working directory does not matter."""
    return path if path.is_absolute() else SERVICE_ROOT / path
