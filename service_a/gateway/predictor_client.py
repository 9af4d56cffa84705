"""The HTTP client to the predictor (service B): one shared httpx.AsyncClient, domain errors.

Failures map to errors as follows (the cause is logged, never returned to the client):

- no connection (refused, DNS failure, connect timeout, no free pooled connection in
  time), or B answers 503 -> PredictorUnavailable (503 with Retry-After);
- connected, but no answer within the read timeout -> PredictorTimeout (504);
- any other status, a connection dropped before the answer, a body that is not JSON or
  not a prediction -> PredictorBadResponse (502).
"""

import logging
from collections.abc import Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import ValidationError
from pydantic_core import to_json

from gateway.config import Settings
from gateway.errors import (
    GatewayError,
    PredictorBadResponse,
    PredictorNotReady,
    PredictorTimeout,
    PredictorUnavailable,
)
from gateway.schemas import PredictorResponse

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

# What the transports raise: httpx's errors, and aiohttp's that httpx-aiohttp does not map
# (e.g. for a malformed status line).
_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError)
_CANNOT_CONNECT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AIOHTTP_CANNOT_CONNECT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def build_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The network transport to B: pooled keep-alive connections, SERVICE_B_TRANSPORT's kind.

    httpx-aiohttp's transport is the default: on the lab machine httpx's own transport
    used about 5 ms of CPU per request under concurrency, against under 1 ms.
    """
    limits = httpx.Limits(
        max_connections=settings.SERVICE_B_POOL_SIZE,
        max_keepalive_connections=settings.SERVICE_B_POOL_SIZE,
        keepalive_expiry=settings.SERVICE_B_KEEPALIVE_EXPIRY,
    )
    if settings.SERVICE_B_TRANSPORT == "aiohttp":
        return AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def build_http_client(settings: Settings, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """The shared client over `transport`, with separate connect and read timeouts."""
    timeout = httpx.Timeout(
        connect=settings.SERVICE_B_CONNECT_TIMEOUT,
        read=settings.SERVICE_B_READ_TIMEOUT,
        write=settings.SERVICE_B_READ_TIMEOUT,
        pool=settings.SERVICE_B_READ_TIMEOUT,
    )
    # trust_env=False: a proxy or .netrc from the environment must not reroute internal calls.
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)


def error_for(failure: Exception, retry_after: int) -> GatewayError:
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
    """Calls the predictor's predict and ready endpoints through one shared httpx client.

    Requests are built by the client (base timeouts and headers) and sent straight to its
    transport: AsyncClient.send adds cookie, auth and redirect handling that these
    internal calls never use, measured at 0.13 ms of CPU per request (15 % of the
    gateway's cost of a forwarded request).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        predict_url: str,
        ready_url: str,
        retry_after: int,
    ) -> None:
        self._http = http
        self._transport = transport
        # Parsed once: httpx would parse a string URL again on every call.
        self._predict_url = httpx.URL(predict_url)
        self._ready_url = httpx.URL(ready_url)
        self._retry_after = retry_after

    @classmethod
    def from_settings(
        cls, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport, settings: Settings
    ) -> "PredictorClient":
        return cls(
            http,
            transport,
            settings.predict_url,
            settings.ready_url,
            settings.SERVICE_B_RETRY_AFTER,
        )

    async def predict(self, data: str, request_id: str) -> bytes:
        """The predictor's body for `data`, unchanged, once it is checked to be a prediction."""
        headers = {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id}
        content = to_json({"input": data})
        response = await self._send("POST", self._predict_url, content=content, headers=headers)
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
        """Return if the readiness endpoint of B answers 200, else raise PredictorNotReady."""
        headers = {REQUEST_ID_HEADER: request_id}
        try:
            response = await self._send("GET", self._ready_url, headers=headers)
        except GatewayError as error:
            raise PredictorNotReady(self._retry_after) from error
        if response.status_code != 200:
            logger.warning("Predictor is not ready: readiness answered %d", response.status_code)
            raise PredictorNotReady(self._retry_after)

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request with its body read; transport failures become domain errors."""
        request = self._http.build_request(method, url, content=content, headers=headers)
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
