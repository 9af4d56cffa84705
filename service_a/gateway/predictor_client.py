"""The HTTP client to the predictor (service B): one shared httpx transport, domain errors.

Failures map to errors as follows (the cause is logged, never returned to the client):

- no connection (refused, DNS failure, connect timeout, no free pooled connection in
  time), or B answers 503 -> PredictorUnavailable (503 with Retry-After);
- connected, but no answer within the read timeout -> PredictorTimeout (504);
- any other status, a connection dropped before the answer, a body that is not JSON or
  not a prediction -> PredictorBadResponse (502).
"""

import logging

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import ValidationError
from pydantic_core import to_json

from gateway.config import Settings
from gateway.errors import (
    PredictorBadResponse,
    PredictorNotReady,
    PredictorTimeout,
    PredictorUnavailable,
)
from gateway.schemas import PredictorReadiness, PredictorResponse
from service_common.errors import ServiceError
from service_common.middleware import REQUEST_ID_HEADER

logger = logging.getLogger(__name__)

# What the transports raise: httpx's errors, and aiohttp's that httpx-aiohttp does not map
# (e.g. for a malformed status line).
_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError)
_CANNOT_CONNECT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AIOHTTP_CANNOT_CONNECT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


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


def build_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The network transport to B: pooled keep-alive connections, SERVICE_B_TRANSPORT's kind.

    httpx-aiohttp's transport is the default: it costs several times less CPU per request
    under concurrency than httpx's own (README, Benchmark).
    """
    limits = httpx.Limits(
        max_connections=settings.SERVICE_B_POOL_SIZE,
        max_keepalive_connections=settings.SERVICE_B_POOL_SIZE,
        keepalive_expiry=settings.SERVICE_B_KEEPALIVE_EXPIRY,
    )
    # trust_env=False: a proxy or .netrc from the environment must not reroute internal calls.
    if settings.SERVICE_B_TRANSPORT == "aiohttp":
        return AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def error_for(failure: Exception, retry_after: int) -> ServiceError:
    """The domain error for a failed call to the predictor.

    httpx-aiohttp maps aiohttp's errors coarsely (a connection dropped mid-answer becomes
    httpx.ConnectTimeout), so when aiohttp is the cause, its own error class decides.
    """
    cause = failure.__cause__ if isinstance(failure, httpx.HTTPError) else failure
    if isinstance(cause, aiohttp.ClientError):
        if isinstance(cause, _AIOHTTP_CANNOT_CONNECT):
            return PredictorUnavailable(retry_after)
        if isinstance(cause, aiohttp.ServerTimeoutError):
            return PredictorTimeout()
        return PredictorBadResponse()
    if isinstance(failure, _CANNOT_CONNECT):
        return PredictorUnavailable(retry_after)
    if isinstance(failure, httpx.TimeoutException):
        return PredictorTimeout()
    return PredictorBadResponse()


def describe(error: BaseException) -> str:
    """`Class: message` of an error and of its cause, for the log."""
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None:
        same_message = str(cause) == str(error)
        text += f" (from {type(cause).__name__}{'' if same_message else f': {cause}'})"
    return text


class PredictorClient:
    """Calls the predictor's predict and ready endpoints through one shared httpx transport.

    Requests go straight to the transport, with their headers written out once:
    httpx.AsyncClient would merge default headers, cookies, auth and redirect handling
    into every request, which these internal calls never use, at a measurable share of
    the gateway's CPU per forwarded request (README, Benchmark).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        predict_url: str,
        ready_url: str,
        timeout: httpx.Timeout,
        ready_timeout: httpx.Timeout,
        retry_after: int,
    ) -> None:
        self._transport = transport
        # Parsed once: httpx would parse a string URL again on every call.
        self._predict_url = httpx.URL(predict_url)
        self._ready_url = httpx.URL(ready_url)
        self._timeout = timeout.as_dict()
        self._ready_timeout = ready_timeout.as_dict()
        self._retry_after = retry_after

    @classmethod
    def from_settings(
        cls, transport: httpx.AsyncBaseTransport, settings: Settings
    ) -> "PredictorClient":
        return cls(
            transport,
            settings.predict_url,
            settings.ready_url,
            build_timeout(settings),
            build_ready_timeout(settings),
            settings.SERVICE_B_RETRY_AFTER,
        )

    async def predict(self, data: str, request_id: str) -> bytes:
        """The predictor's body for `data`, unchanged, once it is checked to be a prediction."""
        content = to_json({"input": data})
        headers = [(b"Content-Type", b"application/json"), *request_id_header(request_id)]
        response = await self._send("POST", self._predict_url, headers, self._timeout, content)
        if response.status_code == 503:
            logger.warning("Predictor answered 503 (not ready or overloaded)")
            raise PredictorUnavailable(self._retry_after)
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

    async def check_ready(self, request_id: str) -> None:
        """Return if B's readiness endpoint answers 200 with a predictor's readiness body,
        within SERVICE_B_READY_TIMEOUT; else raise PredictorNotReady."""
        headers = request_id_header(request_id)
        try:
            response = await self._send("GET", self._ready_url, headers, self._ready_timeout)
        except ServiceError as error:
            raise PredictorNotReady(self._retry_after) from error
        if response.status_code != 200:
            logger.warning("Predictor is not ready: readiness answered %d", response.status_code)
            raise PredictorNotReady(self._retry_after)
        try:
            PredictorReadiness.model_validate_json(response.content)
        except ValidationError as error:
            logger.warning(
                "Predictor readiness answered 200 without a predictor's readiness body "
                "(is SERVICE_B_URL the predictor?); body starts %r",
                response.content[:200],
            )
            raise PredictorNotReady(self._retry_after) from error

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        timeouts: dict[str, float | None],
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request with its body read; transport failures become domain errors."""
        request = build_request(method, url, headers, content, timeouts)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response
        except _TRANSPORT_ERRORS as failure:
            error = error_for(failure, self._retry_after)
            log = logger.error if isinstance(error, PredictorBadResponse) else logger.warning
            log("%s (%s %s): %s", error.detail, method, url, describe(failure))
            raise error from failure


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
