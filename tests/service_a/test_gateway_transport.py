"""How the gateway classifies a failed call to the predictor, from the errors the
transports really raise: the kind decides retry, breaker and status (README, Resilience)."""

import errno

import aiohttp
import httpx
import pytest

from gateway.transport import Failure, kind_before_answer


def through_httpx_aiohttp(cause: Exception) -> httpx.HTTPError:
    """httpx-aiohttp maps most aiohttp errors to httpx.ConnectTimeout, with aiohttp's error
    as the cause."""
    failure = httpx.ConnectTimeout(str(cause))
    failure.__cause__ = cause
    return failure


def body_write_on_closed_connection() -> aiohttp.ClientOSError:
    """What aiohttp raises when the predictor closes the connection while the request body
    is being written (seen when the predictor is killed under load)."""
    error = aiohttp.ClientOSError(None, "Can not write request body for http://b/predict")
    error.__cause__ = aiohttp.ClientConnectionResetError("Cannot write to closing transport")
    return error


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        (body_write_on_closed_connection(), Failure.RESET_BEFORE_ANSWER),
        (aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset"), Failure.RESET_BEFORE_ANSWER),
        (aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"), Failure.RESET_BEFORE_ANSWER),
        (aiohttp.ServerDisconnectedError(), Failure.RESET_BEFORE_ANSWER),
        (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), Failure.TIMEOUT),
        (aiohttp.ConnectionTimeoutError("Connection timeout"), Failure.CANNOT_CONNECT),
        (aiohttp.ClientOSError(None, "Something else"), Failure.BROKEN_ANSWER),
        (aiohttp.ClientPayloadError("Response payload is not completed"), Failure.BROKEN_ANSWER),
    ],
    ids=[
        "body-write-on-closed-connection",
        "reset",
        "broken-pipe",
        "server-disconnected",
        "read-timeout",
        "connect-timeout",
        "other-os-error",
        "payload-cut-short",
    ],
)
def test_aiohttp_failures_are_classified_by_their_cause(cause: Exception, kind: Failure) -> None:
    assert kind_before_answer(through_httpx_aiohttp(cause)) is kind


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.ConnectError("refused"), Failure.CANNOT_CONNECT),
        (httpx.PoolTimeout("no free connection"), Failure.CANNOT_CONNECT),
        (httpx.ReadTimeout("slow"), Failure.TIMEOUT),
        (httpx.ReadError("reset"), Failure.RESET_BEFORE_ANSWER),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            Failure.RESET_BEFORE_ANSWER,
        ),
        (httpx.RemoteProtocolError("illegal status line"), Failure.BROKEN_ANSWER),
    ],
    ids=["refused", "pool-timeout", "read-timeout", "read-error", "disconnected", "not-http"],
)
def test_httpx_failures_are_classified(failure: Exception, kind: Failure) -> None:
    assert kind_before_answer(failure) is kind
