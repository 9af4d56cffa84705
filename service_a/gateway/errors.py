"""The gateway's domain errors: what can go wrong with the predictor, as clients see it.

They are answered by the handlers of `service_common.errors`, with their status, fixed
detail and headers; the cause is logged where the error is raised.
"""

from collections.abc import Sequence
from typing import Any

from gateway.schemas import ReplicaStatus
from service_common.errors import RetryLater, ServiceError


class PredictorError(ServiceError):
    """Base of the errors of a call to the predictor; `outcome` labels it in the metrics."""

    outcome = "unavailable"


class PredictorUnavailable(RetryLater, PredictorError):
    """The predictor cannot be reached (connection refused, DNS failure, connect timeout)."""

    status_code = 503
    detail = "Service B is unavailable"


class BreakerOpen(PredictorUnavailable):
    """The breaker is open: the call was refused without trying the predictor."""

    outcome = "breaker_open"


class NoFreeSlot(PredictorUnavailable):
    """Every slot for calls to the predictor stayed busy for SERVICE_B_QUEUE_TIMEOUT."""

    outcome = "shed"


class PredictorNotReady(PredictorUnavailable):
    """No replica of the predictor is ready: none answered its readiness check with 200,
    or their breakers are open."""

    detail = "Service B is not ready"

    def __init__(
        self,
        retry_after: int,
        breaker: str | None = None,
        replicas: Sequence[ReplicaStatus] = (),
    ) -> None:
        super().__init__(retry_after)
        self.breaker = breaker
        self.replicas = replicas

    def body(self) -> dict[str, Any]:
        body = super().body() | ({"breaker": self.breaker} if self.breaker else {})
        if self.replicas:
            body["replicas"] = [replica.model_dump() for replica in self.replicas]
        return body


class PredictorTimeout(PredictorError):
    """The predictor accepted the request but did not answer within the read timeout."""

    outcome = "timeout"
    status_code = 504
    detail = "Service B timed out"


class PredictorBadResponse(PredictorError):
    """The predictor answered with an error status, non-JSON, or JSON that is no prediction."""

    outcome = "bad_response"
    status_code = 502
    detail = "Service B returned an invalid response"


class ModelVersionNotFound(PredictorError):
    """The predictor has no model version by the requested name."""

    outcome = "model_version_not_found"
    status_code = 404
    detail = "Model version not found on service B"

    def __init__(self, version: str) -> None:
        super().__init__()
        self.version = version

    def body(self) -> dict[str, Any]:
        return {"detail": f"Model version {self.version} not found on service B"}


class ModelVersionRefused(ModelVersionNotFound):
    """The predictor has the requested version but refuses to serve it (it fails
    verification)."""

    outcome = "model_version_refused"
    status_code = 409
    detail = "Model version cannot be served by service B"

    def body(self) -> dict[str, Any]:
        return {"detail": f"Model version {self.version} cannot be served by service B"}


class Unauthenticated(ServiceError):
    """POST /process without a valid API key (API_KEYS or API_KEYS_FILE is set)."""

    status_code = 401
    detail = "Missing or invalid API key"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class RateLimited(RetryLater):
    """The caller (its API key, or its address without keys) is over RATE_LIMIT."""

    status_code = 429
    detail = "Rate limit exceeded"

    def __init__(self, retry_after: int, rate_limit_headers: dict[str, str]) -> None:
        super().__init__(retry_after)
        self.rate_limit_headers = rate_limit_headers

    @property
    def headers(self) -> dict[str, str]:
        return super().headers | self.rate_limit_headers
