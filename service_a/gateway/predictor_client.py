"""The client to the predictor (service B): one shared transport, with the resilience
that keeps the gateway fast whatever the predictor does, and domain errors.

A call goes: a slot (at most SERVICE_B_MAX_IN_FLIGHT at once, else 503 after
SERVICE_B_QUEUE_TIMEOUT) -> the circuit breaker (open: 503 at once, no connect attempt)
-> the transport -> at most one retry, on a fresh connection, of a call reset before any
byte of an answer (within the retry budget). Outcomes map to errors as follows (the cause
is logged, never returned to the client):

- no connection (refused, DNS failure, connect timeout), a reset before any answer that
  its retry did not cure, B answering 503, no slot, the breaker open
  -> PredictorUnavailable (503 with Retry-After);
- connected, but no answer within the read timeout -> PredictorTimeout (504);
- for a named model version, B answering 404 or 409 -> ModelVersionNotFound (404) or
  ModelVersionRefused (409); its 503 (another version is loading) is a 503 that does not
  count against the breaker;
- any other status, an answer that is not HTTP or stops half-way, a body that is not
  JSON or not a prediction -> PredictorBadResponse (502).
Connect failures, resets, timeouts and 503s count against the breaker; odd answers do not.
"""

import logging
import time
from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from pydantic_core import to_json

from gateway.breaker import BreakerState, CircuitBreaker
from gateway.config import Settings
from gateway.errors import (
    BreakerOpen,
    ModelVersionNotFound,
    ModelVersionRefused,
    NoFreeSlot,
    PredictorBadResponse,
    PredictorError,
    PredictorNotReady,
    PredictorTimeout,
    PredictorUnavailable,
)
from gateway.in_flight import InFlightLimiter, NoSlot
from gateway.metrics import GatewayMetrics
from gateway.retry_budget import RetryBudget
from gateway.schemas import PredictorReadiness, PredictorResponse
from gateway.transport import FailedCall, Failure, send
from service_common.middleware import REQUEST_ID_HEADER
from service_common.tracing import current_traceparent

logger = logging.getLogger(__name__)

_BREAKER_FAILURES = frozenset(
    {Failure.CANNOT_CONNECT, Failure.RESET_BEFORE_ANSWER, Failure.TIMEOUT}
)


def build_timeout(settings: Settings) -> httpx.Timeout:
    """Separate connect and read timeouts; waiting for a free pooled connection counts as read."""
    return httpx.Timeout(
        connect=settings.SERVICE_B_CONNECT_TIMEOUT,
        read=settings.SERVICE_B_READ_TIMEOUT,
        write=settings.SERVICE_B_READ_TIMEOUT,
        pool=settings.SERVICE_B_READ_TIMEOUT,
    )


def build_ready_timeout(settings: Settings) -> httpx.Timeout:
    """The readiness check's own, short bound on every phase of the call."""
    return httpx.Timeout(settings.SERVICE_B_READY_TIMEOUT)


@dataclass(frozen=True)
class Resilience:
    """The policies around every call to B; built once, in the lifespan."""

    limiter: InFlightLimiter
    breaker: CircuitBreaker | None
    retry_budget: RetryBudget

    @classmethod
    def from_settings(cls, settings: Settings) -> "Resilience":
        breaker = None
        if settings.BREAKER_ENABLED:
            breaker = CircuitBreaker(
                httpx.URL(settings.predictor_base_url).netloc.decode("ascii"),
                settings.BREAKER_FAILURES,
                settings.BREAKER_OPEN_S,
                settings.BREAKER_MAX_OPEN_S,
            )
        return cls(
            InFlightLimiter(settings.max_in_flight, settings.SERVICE_B_QUEUE_TIMEOUT),
            breaker,
            RetryBudget(settings.RETRY_BUDGET_RATIO),
        )


def describe(error: BaseException) -> str:
    """`Class: message` of an error and of its cause, for the log."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None:
        same_message = str(cause) == str(error)
        text += f" (from {type(cause).__name__}{'' if same_message else f': {cause}'})"
    return text


class PredictorClient:
    """Calls the predictor's predict and ready endpoints through one shared transport.

    Requests go straight to the transport, with their headers written out once:
    httpx.AsyncClient would merge default headers, cookies, auth and redirect handling
    into every request, which these internal calls never use, at a measurable share of
    the gateway's CPU per forwarded request (README, Benchmark).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        retry_transport: httpx.AsyncBaseTransport,
        resilience: Resilience,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        """`metrics`: where each call's outcome and duration are counted (None: nowhere)."""
        self._metrics = metrics
        self._transport = transport
        self._retry_transport = retry_transport
        self._limiter = resilience.limiter
        self._breaker = resilience.breaker
        self._retry_budget = resilience.retry_budget
        # Parsed once: httpx would parse a string URL again on every call.
        self._predict_url = httpx.URL(settings.predict_url)
        self._base_url = httpx.URL(settings.predictor_base_url)
        self._ready_url = httpx.URL(settings.ready_url)
        self._timeout = build_timeout(settings).as_dict()
        self._ready_timeout = build_ready_timeout(settings).as_dict()
        self._retry_after = settings.SERVICE_B_RETRY_AFTER

    @property
    def breaker_state(self) -> BreakerState | None:
        return self._breaker.state if self._breaker else None

    async def predict(self, data: str, request_id: str, model_version: str | None = None) -> bytes:
        """The predictor's body for `data`, unchanged, once it is checked to be a prediction;
        from `model_version` when given (ModelVersionNotFound, ModelVersionRefused)."""
        metrics = self._metrics
        if metrics is None:
            return await self._predict(data, request_id, model_version)
        started = time.perf_counter()
        try:
            body = await self._predict(data, request_id, model_version)
        except PredictorError as error:
            metrics.predictor_call(error.outcome, time.perf_counter() - started)
            raise
        metrics.predictor_call("ok", time.perf_counter() - started)
        return body

    async def _predict(self, data: str, request_id: str, model_version: str | None) -> bytes:
        breaker = self._breaker
        # The breaker first: while it is open, a refusal costs no slot, and no request is
        # built or sent; it is as cheap as a logged-only input.
        if breaker is not None and not breaker.allow():
            raise BreakerOpen(breaker.retry_after_s())
        try:
            await self._limiter.acquire()
        except NoSlot:
            if breaker is not None:
                breaker.release()
            self._limiter.note_shed()
            raise NoFreeSlot(self._retry_after) from None
        try:
            response = await self._call_through_breaker(data, request_id, model_version)
        finally:
            self._limiter.release()
        if model_version is not None and response.status_code in (404, 409):
            error = (
                ModelVersionNotFound(model_version)
                if response.status_code == 404
                else ModelVersionRefused(model_version)
            )
            logger.warning(
                "Predictor answered %d for model %s", response.status_code, model_version
            )
            raise error
        if response.status_code != 200:
            logger.error(
                "Predictor answered status %d; body starts %r",
                response.status_code,
                response.content[:200],
            )
            raise PredictorBadResponse()
        try:
            PredictorResponse.model_validate_json(response.content)
        except ValidationError as error:
            logger.error(
                "Predictor answered 200 without a prediction: %s; body starts %r",
                error.errors(include_url=False, include_input=False)[:3],
                response.content[:200],
            )
            raise PredictorBadResponse() from error
        return response.content

    async def _call_through_breaker(
        self, data: str, request_id: str, model_version: str | None
    ) -> httpx.Response:
        """B's answer for `data` (any status but 503); the breaker hears how it went."""
        breaker = self._breaker
        content = to_json({"input": data})
        headers = [
            (b"Content-Type", b"application/json"),
            *request_id_header(request_id),
            *current_traceparent(),
        ]
        url = self._predict_url if model_version is None else self._version_url(model_version)
        request = build_request("POST", url, headers, content, self._timeout)
        try:
            response = await self._call_with_one_retry(request)
        except FailedCall as failed:
            if breaker is not None:
                if failed.kind in _BREAKER_FAILURES:
                    breaker.record_failure()
                else:
                    breaker.record_neutral()
            raise self._error_for(failed, request) from failed
        if response.status_code == 503:
            if breaker is not None:
                # A named version's 503 is about that version (service B loads one at a
                # time): it must not open the breaker for every other call.
                if model_version is None:
                    breaker.record_failure()
                else:
                    breaker.record_neutral()
            logger.warning("Predictor answered 503 (not ready or overloaded)")
            raise PredictorUnavailable(self._retry_after)
        if breaker is not None:
            if response.status_code == 200:
                breaker.record_success()
            else:
                breaker.record_neutral()
        return response

    async def _call_with_one_retry(self, request: httpx.Request) -> httpx.Response:
        self._retry_budget.record_call()
        try:
            return await send(self._transport, request)
        except FailedCall as failed:
            if failed.kind is not Failure.RESET_BEFORE_ANSWER or not self._retry_budget.try_spend():
                raise
            logger.info("Retrying on a new connection: %s", describe(failed.__cause__ or failed))
            if self._metrics is not None:
                self._metrics.call_retried()
        return await send(self._retry_transport, request)

    def _version_url(self, version: str) -> httpx.URL:
        # Built per call: caching one URL per version a client names would grow unbounded.
        return self._base_url.copy_with(
            path=f"{self._base_url.path.rstrip('/')}/models/{version}/predict"
        )

    def _error_for(
        self, failed: FailedCall, request: httpx.Request
    ) -> PredictorUnavailable | PredictorTimeout | PredictorBadResponse:
        error: PredictorUnavailable | PredictorTimeout | PredictorBadResponse
        if failed.kind is Failure.TIMEOUT:
            error = PredictorTimeout()
        elif failed.kind is Failure.BROKEN_ANSWER:
            error = PredictorBadResponse()
        else:
            error = PredictorUnavailable(self._retry_after)
        log = logger.error if isinstance(error, PredictorBadResponse) else logger.warning
        cause = failed.__cause__ or failed
        log("%s (%s %s): %s", error.detail, request.method, request.url, describe(cause))
        return error

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self._breaker

    async def check_ready(self, request_id: str) -> None:
        """Return if the breaker lets calls through and B's readiness endpoint answers 200
        with a predictor's readiness body within SERVICE_B_READY_TIMEOUT; else raise
        PredictorNotReady."""
        breaker = self._breaker
        if breaker is not None and breaker.state is BreakerState.OPEN:
            raise PredictorNotReady(breaker.retry_after_s(), BreakerState.OPEN)
        problem = await self.readiness_problem(request_id)
        if problem is not None:
            logger.warning("Predictor is not ready: %s", problem)
            raise PredictorNotReady(self._retry_after, self.breaker_state)

    async def readiness_problem(self, request_id: str) -> str | None:
        """Why B's readiness endpoint does not say ready, or None when it does."""
        headers = request_id_header(request_id) + current_traceparent()
        request = build_request("GET", self._ready_url, headers, None, self._ready_timeout)
        try:
            response = await send(self._transport, request)
        except FailedCall as failed:
            return describe(failed.__cause__ or failed)
        if response.status_code != 200:
            return f"readiness answered {response.status_code}"
        try:
            PredictorReadiness.model_validate_json(response.content)
        except ValidationError:
            return (
                "readiness answered 200 without a predictor's readiness body "
                f"(is SERVICE_B_URL the predictor?); body starts {response.content[:200]!r}"
            )
        return None


def request_id_header(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(REQUEST_ID_HEADER, request_id.encode("ascii"))]


def build_request(
    method: str,
    url: httpx.URL,
    headers: list[tuple[bytes, bytes]],
    content: bytes | None,
    timeout: dict[str, float | None],
) -> httpx.Request:
    """A complete request for a transport: Host and Content-Length set, body loaded.

    Passing the body as a stream makes httpx take the headers as they are instead of
    looking each default up again; `read()` then loads it, as `content=` would.
    """
    framing = [(b"Host", url.netloc)]
    if content is not None:
        framing.append((b"Content-Length", str(len(content)).encode("ascii")))
    request = httpx.Request(
        method,
        url,
        headers=framing + headers,
        stream=httpx.ByteStream(content or b""),
        extensions={"timeout": timeout},
    )
    request.read()
    return request
