"""The predictor's domain errors: those a client sees (answered by the handlers of
`service_common.errors`), and those that stop a model from being served."""

from service_common.errors import ServiceError, StartupError


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
