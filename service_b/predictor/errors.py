"""The predictor's domain errors: those a client sees (answered by the handlers of
`service_common.errors`), and those that stop a model from being served."""

from typing import Any

from service_common.errors import RetryLater, ServiceError, StartupError


class ModelNotReady(ServiceError):
    """No model is loaded yet (the first one is being trained)."""

    status_code = 503
    detail = "Model is not loaded yet"


class PredictionFailed(ServiceError):
    """The model raised on this input."""

    status_code = 500
    detail = "Prediction failed"


class ModelLoadError(Exception):
    """A model version cannot be served: missing, tampered with, or unreadable."""


class NoModelVersion(ModelLoadError):
    """The model folder holds no version yet."""


class InvalidTrainingConfig(StartupError):
    """The training recipe cannot be read or breaks a rule; the message names the value."""


class UnsupportedPipeline(Exception):
    """The fitted pipeline has a part the compiled scoring path cannot represent; the
    message names it."""


class VersionNotFound(ServiceError):
    """The models folder has no such version."""

    status_code = 404
    detail = "Model version not found"

    def __init__(self, version: str) -> None:
        super().__init__()
        self.version = version

    def body(self) -> dict[str, Any]:
        return {"detail": f"Model version {self.version} not found"}


class VersionRefused(ServiceError):
    """The version exists but does not verify (sha256, allowed types, a known text).

    `reason` is for the log; the body names the version only."""

    status_code = 409
    detail = "Model version failed verification; the served version is unchanged"

    def __init__(self, version: str, reason: str) -> None:
        super().__init__()
        self.version = version
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {
            "detail": f"Model version {self.version} failed verification; "
            "the served version is unchanged"
        }


class VersionPinned(ServiceError):
    """MODEL_VERSION pins the served version, so activation is refused."""

    status_code = 409
    detail = "MODEL_VERSION pins the served version; unset it to activate versions"


class VersionBusy(RetryLater):
    """Another version is being loaded for `/models/{version}/predict`: loads are one at a
    time, so that clients naming many versions cannot take the service's CPU."""

    status_code = 503
    detail = "Another model version is being loaded; retry shortly"


class JobNotFound(ServiceError):
    status_code = 404
    detail = "Training job not found"


class TrainingQueueFull(RetryLater):
    """TRAIN_QUEUE_SIZE jobs already wait for the one running."""

    status_code = 429
    detail = "Training queue is full; retry later"


class AdminDisabled(ServiceError):
    """ADMIN_TOKEN is unset."""

    status_code = 403
    detail = "Admin API is disabled"


class AdminUnauthorized(ServiceError):
    """The request has no `Authorization: Bearer` token, or not ADMIN_TOKEN."""

    status_code = 401
    detail = "Missing or invalid admin token"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}
