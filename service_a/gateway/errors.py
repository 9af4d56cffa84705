"""Domain errors, and the one place that turns errors into HTTP responses.

Each error a client can see carries its status code and a fixed public detail; the cause
(exception class, message, host, port) goes to the log only, never into a response body.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

INTERNAL_ERROR_DETAIL = "Internal server error"


class GatewayError(Exception):
    """Base of the errors a client can see: each carries its status and public detail."""

    status_code = 500
    detail = INTERNAL_ERROR_DETAIL

    def __init__(self) -> None:
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str] | None:
        return None


class PredictorUnavailable(GatewayError):
    """The predictor cannot be reached (connection refused, DNS failure, connect timeout)."""

    status_code = 503
    detail = "Service B is unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class PredictorNotReady(PredictorUnavailable):
    """The predictor's readiness check did not answer 200."""

    detail = "Service B is not ready"


class PredictorTimeout(GatewayError):
    """The predictor accepted the request but did not answer within the read timeout."""

    status_code = 504
    detail = "Service B timed out"


class PredictorBadResponse(GatewayError):
    """The predictor answered with an error status, non-JSON, or JSON that is no prediction."""

    status_code = 502
    detail = "Service B returned an invalid response"


class PayloadTooLarge(HTTPException):
    """The request body is larger than MAX_BODY_BYTES.

    Unlike the errors above it is an HTTPException: it is raised while FastAPI reads the
    body, and FastAPI turns any other exception raised there into a 400.
    """

    def __init__(self) -> None:
        # The rest of the body is not read, so the connection cannot be reused.
        super().__init__(413, "Request body too large", headers={"Connection": "close"})


def error_response(error: GatewayError | HTTPException) -> JSONResponse:
    """The `{"detail": ...}` response of an error, with its status code and headers."""
    return JSONResponse(
        status_code=error.status_code, content={"detail": error.detail}, headers=error.headers
    )


def invalid_field(
    field: str, error_type: str, message: str, context: dict[str, Any] | None = None
) -> RequestValidationError:
    """A 422 for a body field that passed the schema but breaks a configured rule.

    Same shape as FastAPI's own 422s, so clients parse one format; the input itself is
    not echoed back (it may be very long).
    """
    error: dict[str, Any] = {"type": error_type, "loc": ("body", field), "msg": message}
    if context:
        error["ctx"] = context
    return RequestValidationError([error])


NOT_A_JSON_OBJECT = (
    'Body must be a JSON object such as {"data": "cat image data", "forward_to_model": true}, '
    "sent with Content-Type: application/json"
)
NOT_UTF8_JSON = "Body is not UTF-8 encoded JSON"


def register_error_handlers(app: FastAPI) -> None:
    """Map every domain error to `{"detail": ...}` with its status code and headers."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)


async def _request_invalid(_: Request, error: Exception) -> JSONResponse:
    # FastAPI's format, minus the echoed input (it can be a megabyte), and with a hint when
    # the body is not a JSON object at all: the usual cause is a missing Content-Type.
    assert isinstance(error, RequestValidationError)
    details = []
    for item in error.errors():
        detail = {key: item[key] for key in ("type", "loc", "msg", "ctx") if key in item}
        if tuple(item.get("loc", ())) == ("body",) and item.get("type") == "model_attributes_type":
            detail["msg"] = NOT_A_JSON_OBJECT
        details.append(detail)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(details)})


async def _http_error(request: Request, error: Exception) -> Response:
    # FastAPI answers 400 for a JSON body that is not UTF-8; it is invalid JSON like any other.
    assert isinstance(error, HTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        body = {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": NOT_UTF8_JSON}]}
        return JSONResponse(status_code=422, content=body)
    return await http_exception_handler(request, error)


async def _gateway_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GatewayError)
    return error_response(error)


class UnexpectedErrorMiddleware:
    """Answer any unhandled exception with a generic 500 and log it with its traceback.

    Installed inside the request-id middleware, so the log line carries the request id and
    the response the X-Request-ID header; the exception does not travel further, so the
    server does not log the same traceback a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        response_started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception:
            logger.exception("Unhandled error while serving %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR_DETAIL})
            await response(scope, receive, send)
