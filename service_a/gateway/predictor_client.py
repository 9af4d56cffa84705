"""The client to the predictor (service B): one shared transport, with the resilience
that keeps the gateway fast whatever the predictor does, and domain errors.

A call goes: a slot (at most SERVICE_B_MAX_IN_FLIGHT at once, else 503 after
SERVICE_B_QUEUE_TIMEOUT) -> a replica (`gateway.replicas`: every replica's breaker open,
503 at once, no connect attempt) -> the transport -> at most one retry (within the retry
budget) of a call the replica surely did not process: on another replica after a connect
failure, a reset before any byte of an answer or a 503; with no other replica, on a fresh
connection after a reset only. Outcomes map to errors as follows (the cause is logged,
never returned to the client):

- no connection (refused, DNS failure, connect timeout), a reset before any answer that
  its retry did not cure, B answering 503, no slot, every breaker open
  -> PredictorUnavailable (503 with Retry-After);
- connected, but no answer within the read timeout -> PredictorTimeout (504);
- for a named model version, B answering 404 or 409 -> ModelVersionNotFound (404) or
  ModelVersionRefused (409); its 503 (another version is loading) is a 503 that does not
  count against the breaker;
- any other status, an answer that is not HTTP or stops half-way, a body that is not
  JSON or not a prediction -> PredictorBadResponse (502).
Connect failures, resets, timeouts and 503s count against the breaker of the replica that
had them; odd answers do not.
"""

import asyncio
import logging
import time
from collections.abc import Callable
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
from gateway.replicas import Replica, ReplicaSet
from gateway.retry_budget import RetryBudget
from gateway.schemas import PredictorReadiness, PredictorResponse, ReplicaStatus
from gateway.transport import FailedCall, Failure, send
from service_common.middleware import REQUEST_ID_HEADER
from service_common.served_by import SERVED_BY_HEADER, sane_replica_name
from service_common.tracing import current_traceparent

logger = logging.getLogger(__name__)

SERVED_BY = SERVED_BY_HEADER.decode("ascii")

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
    new_breaker: Callable[[str], CircuitBreaker | None]
    """A breaker for the replica at an address (None when BREAKER_ENABLED is false)."""
    retry_budget: RetryBudget

    @classmethod
    def from_settings(cls, settings: Settings) -> "Resilience":
        def new_breaker(address: str) -> CircuitBreaker | None:
            if not settings.BREAKER_ENABLED:
                return None
            return CircuitBreaker(
                address,
                settings.BREAKER_FAILURES,
                settings.BREAKER_OPEN_S,
                settings.BREAKER_MAX_OPEN_S,
            )

        return cls(
            InFlightLimiter(settings.max_in_flight, settings.SERVICE_B_QUEUE_TIMEOUT),
            new_breaker,
            RetryBudget(settings.RETRY_BUDGET_RATIO, settings.RETRY_BUDGET_MIN),
        )


def describe(error: BaseException) -> str:
    """`Class: message` of an error and of its cause, for the log."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None:
        same_message = str(cause) == str(error)
        text += f" (from {type(cause).__name__}{'' if same_message else f': {cause}'})"
    return text


@dataclass(frozen=True)
class Forwarded:
    """A prediction as the predictor sent it, and the name of the replica that made it."""

    body: bytes
    served_by: str | None


@dataclass(frozen=True)
class ReplicaReadiness:
    """What one replica's readiness check found."""

    replica: Replica
    problem: str | None
    """Why it is not ready; None when it is."""
    served_by: str | None
    """The name it gave (X-Served-By), when it answered."""

    @property
    def ready(self) -> bool:
        return self.problem is None

    def status(self) -> ReplicaStatus:
        replica = self.replica
        return ReplicaStatus(
            address=replica.address,
            name=self.served_by,
            state="ready" if self.ready else "not_ready",
            breaker=replica.breaker_state,
        )


_Outcome = httpx.Response | FailedCall
"""What one attempt got: an answer (any status), or no complete answer."""


class PredictorClient:
    """Calls the predictor's predict and ready endpoints through one shared transport,
    spread over its replicas.

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
        replicas: ReplicaSet,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        """`metrics`: where each call's outcome and duration are counted (None: nowhere)."""
        self._metrics = metrics
        self._transport = transport
        self._retry_transport = retry_transport
        self._limiter = resilience.limiter
        self._retry_budget = resilience.retry_budget
        self._replicas = replicas
        # The configured host, whichever address is called: what a virtual host expects.
        self._host = httpx.URL(settings.predictor_base_url).netloc
        self._timeout = build_timeout(settings).as_dict()
        self._ready_timeout = build_ready_timeout(settings).as_dict()
        self._retry_after = settings.SERVICE_B_RETRY_AFTER
        self._readiness_round: asyncio.Future[list[ReplicaReadiness]] | None = None

    async def __aenter__(self) -> "PredictorClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop a round of readiness checks that no caller waits for any more, so nothing
        of the client outlives the lifespan that made it."""
        under_way = self._readiness_round
        if under_way is not None and not under_way.done():
            under_way.cancel()
            await asyncio.gather(under_way, return_exceptions=True)

    @property
    def replicas(self) -> ReplicaSet:
        return self._replicas

    async def predict(
        self, data: str, request_id: str, model_version: str | None = None
    ) -> Forwarded:
        """The predictor's body for `data`, unchanged, once it is checked to be a prediction;
        from `model_version` when given (ModelVersionNotFound, ModelVersionRefused)."""
        metrics = self._metrics
        if metrics is None:
            return await self._predict(data, request_id, model_version)
        started = time.perf_counter()
        try:
            forwarded = await self._predict(data, request_id, model_version)
        except PredictorError as error:
            metrics.predictor_call(error.outcome, time.perf_counter() - started)
            raise
        metrics.predictor_call("ok", time.perf_counter() - started)
        return forwarded

    async def _predict(self, data: str, request_id: str, model_version: str | None) -> Forwarded:
        replicas = self._replicas
        # While every replica is ejected, a refusal costs no slot, and no request is built
        # or sent; it is as cheap as a logged-only input.
        if replicas.all_ejected():
            raise BreakerOpen(replicas.retry_after_s())
        try:
            await self._limiter.acquire()
        except NoSlot:
            self._limiter.note_shed()
            raise NoFreeSlot(self._retry_after) from None
        try:
            replica = replicas.choose()
            if replica is None:
                raise BreakerOpen(replicas.retry_after_s())
            response = await self._call(replica, data, request_id, model_version)
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
        return Forwarded(response.content, served_by(response))

    async def _call(
        self, replica: Replica, data: str, request_id: str, model_version: str | None
    ) -> httpx.Response:
        """B's answer for `data` (any status but 503), from `replica` or, when it did not
        process the call, at most once from another (within the retry budget); each
        replica's breaker hears how its attempt went."""
        content = to_json({"input": data})
        headers = [
            (b"Content-Type", b"application/json"),
            *request_id_header(request_id),
            *current_traceparent(),
        ]

        def request_to(target: Replica) -> httpx.Request:
            url = target.predict_url if model_version is None else target.version_url(model_version)
            return build_request("POST", url, headers, content, self._timeout, self._host)

        request = request_to(replica)
        self._retry_budget.record_call()
        outcome = await self._attempt(replica, request, self._transport)
        if not unprocessed(outcome):
            return self._settle(replica, request, outcome, model_version)
        retry = self._retry_target(replica, outcome)
        if retry is None:
            return self._settle(replica, request, outcome, model_version)
        target, transport = retry
        if target is not replica:
            self._record(replica, outcome, model_version)
            request = request_to(target)
        logger.info(
            "Retrying on %s: %s",
            "a new connection" if target is replica else f"replica {target.address}",
            what_happened(replica, outcome),
        )
        if self._metrics is not None:
            self._metrics.call_retried()
        return self._settle(
            target, request, await self._attempt(target, request, transport), model_version
        )

    def _retry_target(
        self, failed: Replica, outcome: _Outcome
    ) -> tuple[Replica, httpx.AsyncBaseTransport] | None:
        """Where a call `failed` did not process goes again, if the budget allows: another
        replica; or, with no other, the same one on a new connection after a reset (a
        reset kept-alive connection says little of the replica)."""
        other = self._replicas.choose(avoid=failed)
        if other is not None:
            if self._retry_budget.try_spend():
                return other, self._transport
            if other.breaker is not None:
                other.breaker.release()
            return None
        reset = isinstance(outcome, FailedCall) and outcome.kind is Failure.RESET_BEFORE_ANSWER
        if reset and self._retry_budget.try_spend():
            return failed, self._retry_transport
        return None

    @staticmethod
    async def _attempt(
        replica: Replica, request: httpx.Request, transport: httpx.AsyncBaseTransport
    ) -> _Outcome:
        replica.outstanding += 1
        try:
            return await send(transport, request)
        except FailedCall as failed:
            return failed
        finally:
            replica.outstanding -= 1

    def _settle(
        self,
        replica: Replica,
        request: httpx.Request,
        outcome: _Outcome,
        model_version: str | None,
    ) -> httpx.Response:
        """Tell `replica`'s breaker; the answer, unless it is a 503 or none (then the
        client's error)."""
        self._record(replica, outcome, model_version)
        if isinstance(outcome, FailedCall):
            raise self._error_for(outcome, request) from outcome
        if outcome.status_code == 503:
            logger.warning("Predictor %s answered 503 (not ready or overloaded)", replica.address)
            raise PredictorUnavailable(self._retry_after)
        return outcome

    @staticmethod
    def _record(replica: Replica, outcome: _Outcome, model_version: str | None) -> None:
        breaker = replica.breaker
        if breaker is None:
            return
        if isinstance(outcome, FailedCall):
            if outcome.kind in _BREAKER_FAILURES:
                breaker.record_failure()
            else:
                breaker.record_neutral()
        elif outcome.status_code == 503:
            # A named version's 503 is about that version (service B loads one at a
            # time): it must not open the breaker for every other call.
            if model_version is None:
                breaker.record_failure()
            else:
                breaker.record_neutral()
        elif outcome.status_code == 200:
            breaker.record_success()
        else:
            breaker.record_neutral()

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

    async def check_ready(self, request_id: str) -> list[ReplicaReadiness]:
        """Every replica's readiness, when at least one is ready and its breaker lets calls
        through; else PredictorNotReady."""
        found = await self.readiness(request_id)
        if any(check.ready for check in found):
            return found
        replicas = self._replicas
        logger.warning(
            "Predictor is not ready: %s",
            "; ".join(f"{check.replica.address}: {check.problem}" for check in found),
        )
        retry_after = replicas.retry_after_s() if replicas.all_ejected() else self._retry_after
        raise PredictorNotReady(
            retry_after, replicas.breaker_state(), [check.status() for check in found]
        )

    async def readiness(self, request_id: str) -> list[ReplicaReadiness]:
        """Each replica's readiness, checked at once (ejected ones are not called).

        Callers that ask while a round of checks is under way share its result, so however
        many ask at once, a replica gets one readiness call at a time from this gateway.
        The round carries the request id and trace of the caller that started it, and a
        caller that goes away does not cancel it for the others."""
        under_way = self._readiness_round
        if under_way is None or under_way.done():
            under_way = asyncio.ensure_future(self._check_every_replica(request_id))
            self._readiness_round = under_way
        return list(await asyncio.shield(under_way))

    async def _check_every_replica(self, request_id: str) -> list[ReplicaReadiness]:
        return list(
            await asyncio.gather(
                *(self.replica_readiness(r, request_id) for r in self._replicas.replicas)
            )
        )

    async def replica_readiness(self, replica: Replica, request_id: str) -> ReplicaReadiness:
        """Whether `replica`'s readiness endpoint says ready within SERVICE_B_READY_TIMEOUT
        (its breaker open: not ready, without a call)."""
        if replica.breaker_state is BreakerState.OPEN:
            return ReplicaReadiness(replica, "circuit breaker open", None)
        return await self.ready_behind_breaker(replica, request_id)

    async def ready_behind_breaker(self, replica: Replica, request_id: str) -> ReplicaReadiness:
        """`replica`'s readiness endpoint's verdict, whatever its breaker's state."""
        headers = request_id_header(request_id) + current_traceparent()
        request = build_request(
            "GET", replica.ready_url, headers, None, self._ready_timeout, self._host
        )
        try:
            response = await send(self._transport, request)
        except FailedCall as failed:
            return ReplicaReadiness(replica, describe(failed.__cause__ or failed), None)
        name = served_by(response)
        if response.status_code != 200:
            return ReplicaReadiness(replica, f"readiness answered {response.status_code}", name)
        try:
            PredictorReadiness.model_validate_json(response.content)
        except ValidationError:
            problem = (
                "readiness answered 200 without a predictor's readiness body "
                f"(is SERVICE_B_URL the predictor?); body starts {response.content[:200]!r}"
            )
            return ReplicaReadiness(replica, problem, name)
        return ReplicaReadiness(replica, None, name)


def unprocessed(outcome: _Outcome) -> bool:
    """Whether the predictor surely did not process the call: it could not be reached, it
    closed the connection before answering, or it answered 503."""
    if isinstance(outcome, FailedCall):
        return outcome.kind in (Failure.CANNOT_CONNECT, Failure.RESET_BEFORE_ANSWER)
    return outcome.status_code == 503


def what_happened(replica: Replica, outcome: _Outcome) -> str:
    if isinstance(outcome, FailedCall):
        return f"{replica.address}: {describe(outcome.__cause__ or outcome)}"
    return f"{replica.address} answered {outcome.status_code}"


def served_by(response: httpx.Response) -> str | None:
    """The replica name the answer gives (X-Served-By), if it is one that may be passed on."""
    return sane_replica_name(response.headers.get(SERVED_BY))


def request_id_header(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(REQUEST_ID_HEADER, request_id.encode("ascii"))]


def build_request(
    method: str,
    url: httpx.URL,
    headers: list[tuple[bytes, bytes]],
    content: bytes | None,
    timeout: dict[str, float | None],
    host: bytes | None = None,
) -> httpx.Request:
    """A complete request for a transport: Host (`host`, else the URL's) and
    Content-Length set, body loaded.

    Passing the body as a stream makes httpx take the headers as they are instead of
    looking each default up again; `read()` then loads it, as `content=` would.
    """
    framing = [(b"Host", host or url.netloc)]
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
