"""Predictor settings, read from the environment (one field per variable, no prefix)."""

import re
import socket
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from predictor.schemas import VERSION_PATTERN, ScoringPath
from service_common.served_by import REPLICA_NAME_PATTERN
from service_common.settings import EMPTY_IS_UNSET, Seconds, ServiceSettings

SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""The service_b folder: relative paths in settings and the training config start here."""


class Settings(ServiceSettings):
    """Every knob of the predictor; each field is one environment variable."""

    PORT: int = Field(8001, ge=1, le=65535)
    """TCP port uvicorn listens on."""

    REPLICA_NAME: str = Field(default_factory=socket.gethostname, pattern=REPLICA_NAME_PATTERN)
    """The name this replica gives in the `X-Served-By` header of every response (the
    gateway passes it on); default: the host name, which is the container's or pod's."""

    TRAINING_CONFIG: Path = Path("training.toml")
    """Training config file (TOML), relative to service_b/ unless absolute."""

    MODEL_DIR: Path | None = None
    """Folder holding the model versions (v1, v2, ...); defaults to the training config's
    output_dir."""

    MODEL_VERSION: str | None = Field(None, pattern=VERSION_PATTERN)
    """Pin the service to this version, e.g. v3: it is served, and activation is refused.
    Unset: the version recorded as active in the models folder, else the newest one."""

    MODEL_POLL_S: Seconds = 2.0
    """Seconds within which every process sharing the models folder serves a version
    activated by another one (each reads the active version's record twice in that time)."""

    MODEL_CACHE_SIZE: int = Field(2, ge=0, le=16)
    """Versions kept loaded besides the active one (for `/models/{version}/predict` and a
    rollback without a reload), the least recently used dropped first."""

    ADMIN_TOKEN: Annotated[SecretStr | None, EMPTY_IS_UNSET] = Field(None, min_length=16)
    """Bearer token of the admin API (training, versions, activation), at least 16
    characters. Unset: the admin API answers 403."""

    TRAIN_QUEUE_SIZE: int = Field(4, ge=1, le=1_000)
    """Training jobs that may wait for the one running; more get 429."""

    TRAIN_TIMEOUT_S: Seconds = 1_800.0
    """Seconds a training job may run before it is killed and marked failed."""

    TRAIN_MAX_EXAMPLES: int = Field(10_000, ge=0, le=1_000_000)
    """Most labelled examples one training request may add."""

    NICE: int = Field(5, ge=0, le=19)
    """How much lower the predictor's CPU priority is than that of the process that starts
    it (nice), from `python main.py` on: where the gateway and its predictors share cores,
    the gateway, which every forwarded request passes twice, goes first."""

    TRAIN_NICE: int = Field(10, ge=0, le=19)
    """How much lower the training process' CPU priority is than the service's (nice)."""

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

    BATCH_INLINE_MAX_CHARS: int = Field(1024, ge=0, le=1_000_000)
    """A batch the compiled path scores, of at most this many characters in all, is scored
    on the event loop itself instead of the model thread: the hand-off would cost more
    than the call. 0: every batch goes to the model thread."""

    SCORING_PATH: ScoringPath = "compiled"
    """`compiled`: score with arrays compiled from the fitted pipeline at load, once they
    give its answers on a sample of texts (else the pipeline serves, logged); `pipeline`:
    score with scikit-learn's Pipeline itself."""

    COMPILED_CACHE_WORDS: int = Field(65_536, ge=0, le=10_000_000)
    """Words (of up to 32 characters) whose character n-gram features the compiled path
    remembers, the least recently used dropped first; 0: none."""

    @field_validator("ADMIN_TOKEN")
    @classmethod
    def _sendable(cls, value: SecretStr | None) -> SecretStr | None:
        # HTTP trims spaces around a header value and carries other text as latin-1: a
        # token with either could never be sent as it is set.
        if value is not None and not re.fullmatch(r"[\x21-\x7e]+", value.get_secret_value()):
            raise ValueError("must be printable ASCII characters without spaces")
        return value

    @property
    def training_config_path(self) -> Path:
        return resolve_from_service_root(self.TRAINING_CONFIG)

    @property
    def model_dir_override(self) -> Path | None:
        return resolve_from_service_root(self.MODEL_DIR) if self.MODEL_DIR else None


def resolve_from_service_root(path: Path) -> Path:
    """Anchor a relative path at service_b/ so the working directory does not matter."""
    return path if path.is_absolute() else SERVICE_ROOT / path
