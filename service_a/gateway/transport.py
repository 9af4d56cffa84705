"""The network under the client to the predictor: the pooled transport, one request sent
through it, and what kind of failure a failed send was.

The kind decides everything after it: whether the call may be retried, whether it counts
against the predictor's circuit breaker, and which status the client gets.
"""

import errno
from enum import Enum

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.config import Settings

# What the transports raise: httpx's errors, and aiohttp's that httpx-aiohttp does not map
# (e.g. for a malformed status line).
_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


class Failure(Enum):
    """What went wrong with a call, as far as the gateway can tell."""

    CANNOT_CONNECT = "cannot_connect"
    """Refused, DNS failure, connect timeout: nothing was sent."""
    RESET_BEFORE_ANSWER = "reset_before_answer"
    """Connected and sent, then closed or reset before any byte of an answer: safe to retry
    (/predict is idempotent), and a 503, as Envoy's UC."""
    TIMEOUT = "timeout"
    """No answer within the read timeout: never retried (the predictor may be working)."""
    BROKEN_ANSWER = "broken_answer"
    """An answer began but was not HTTP, or stopped half-way."""


class FailedCall(Exception):
    """A request that got no complete answer; `kind` says how, `__cause__` the detail."""

    def __init__(self, kind: Failure) -> None:
        super().__init__(kind.value)
        self.kind = kind


def build_transport(
    settings: Settings, *, fresh_connections: bool = False
) -> httpx.AsyncBaseTransport:
    """The transport to B, SERVICE_B_TRANSPORT's kind: pooled keep-alive connections, or,
    with `fresh_connections`, a new connection per request (for retries: a retry must not
    meet another connection the predictor has already closed).

    httpx-aiohttp's transport is the default: it costs several times less CPU per request
    under concurrency than httpx's own (README, Benchmark).
    """
    limits = httpx.Limits(
        max_connections=settings.SERVICE_B_POOL_SIZE,
        max_keepalive_connections=0 if fresh_connections else settings.SERVICE_B_POOL_SIZE,
        keepalive_expiry=settings.SERVICE_B_KEEPALIVE_EXPIRY,
    )
    # trust_env=False: a proxy or .netrc from the environment must not reroute internal calls.
    if settings.SERVICE_B_TRANSPORT == "aiohttp":
        if fresh_connections:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True), trust_env=False
            )
            return AiohttpTransport(client=session, trust_env=False)
        return AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


async def send(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """`request`'s complete answer, body read; FailedCall when there is none."""
    try:
        response = await transport.handle_async_request(request)
    except _TRANSPORT_ERRORS as failure:
        raise FailedCall(kind_before_answer(failure)) from failure
    try:
        await response.aread()
    except _TRANSPORT_ERRORS as failure:
        kind = Failure.TIMEOUT if is_timeout(failure) else Failure.BROKEN_ANSWER
        raise FailedCall(kind) from failure
    finally:
        await response.aclose()
    return response


def kind_before_answer(failure: Exception) -> Failure:
    """The kind of a failure raised before the answer's status line and headers arrived.

    httpx-aiohttp maps aiohttp's errors coarsely (a dropped connection becomes
    httpx.ConnectTimeout), so when aiohttp is the cause, its own error class decides.
    """
    cause = failure.__cause__ if isinstance(failure, httpx.HTTPError) else failure
    if isinstance(cause, aiohttp.ClientError):
        if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return Failure.CANNOT_CONNECT
        if isinstance(cause, aiohttp.ServerTimeoutError):
            return Failure.TIMEOUT
        if isinstance(cause, aiohttp.ServerDisconnectedError) or (
            isinstance(cause, aiohttp.ClientOSError) and is_reset(cause)
        ):
            return Failure.RESET_BEFORE_ANSWER
        return Failure.BROKEN_ANSWER
    if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.CANNOT_CONNECT
    if isinstance(failure, httpx.TimeoutException):
        return Failure.TIMEOUT
    if isinstance(failure, httpx.ReadError | httpx.WriteError) or (
        isinstance(failure, httpx.RemoteProtocolError)
        and "without sending a response" in str(failure)
    ):
        return Failure.RESET_BEFORE_ANSWER
    return Failure.BROKEN_ANSWER


def is_reset(error: OSError) -> bool:
    """Whether `error` is, or was caused by, the peer closing or resetting the connection.

    aiohttp reports a connection closed while it writes the request body as
    ClientOSError(None, "Can not write request body ...") caused by a ConnectionResetError
    with no errno: nothing was answered, so it is a reset like any other.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return True
        if isinstance(seen, OSError) and seen.errno in _RESET_ERRNOS:
            return True
        seen = seen.__cause__
    return False


def is_timeout(failure: Exception) -> bool:
    cause = failure.__cause__ if isinstance(failure, httpx.HTTPError) else failure
    return isinstance(failure, httpx.TimeoutException) or isinstance(
        cause, aiohttp.ServerTimeoutError
    )
