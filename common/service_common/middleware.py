"""Pure ASGI middleware of both services: request ids, unexpected errors, the request body
limit and the docs pages' Content-Security-Policy (the trace context and the metrics
have their own modules). `standard_middleware` lists them in the order they wrap the app."""

import logging
import re
from uuid import uuid4

from fastapi.responses import JSONResponse
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_common.errors import INTERNAL_ERROR_DETAIL, PayloadTooLarge, error_response
from service_common.logging_setup import request_id_var
from service_common.metrics import HttpMetricsMiddleware
from service_common.tracing import TraceContextMiddleware

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is reused only if it is a short token that is safe in headers and logs.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

DOCS_PATHS = frozenset({"/docs", "/redoc"})
# Inline scripts and styles: Swagger UI's start-up script, both UIs' generated styles.
# blob: workers: ReDoc's search index.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:"
)


def standard_middleware(
    max_body_bytes: int, *, metrics_enabled: bool = False, tracing_enabled: bool = False
) -> list[Middleware]:
    """The middleware stack of every service, outermost first.

    The request id is outermost, so every response, even a 500 or a 413, carries it and
    every log line about the request shows it; so is the trace context, for the same
    reason. The metrics count what the client gets, a 500 included. Switched off, the
    metrics and tracing middleware are not installed at all.
    """
    return [
        Middleware(RequestIdMiddleware),
        *([Middleware(TraceContextMiddleware)] if tracing_enabled else []),
        *([Middleware(HttpMetricsMiddleware)] if metrics_enabled else []),
        Middleware(UnexpectedErrorMiddleware),
        Middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes),
        Middleware(DocsContentSecurityPolicyMiddleware),
    ]


def adding_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    """`send`, with `header` added to the response's headers."""

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        await send(message)

    return send_with_header


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID if it is a sane token, else None."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _VALID_REQUEST_ID.fullmatch(value) else None
    return None


class RequestIdMiddleware:
    """Sets the request id for the request's log lines and returns it as X-Request-ID.

    The id is the client's X-Request-ID when it is a sane token (letters, digits, `._:-`,
    at most 64 characters), a fresh UUID otherwise. Pure ASGI: no extra task per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = incoming_request_id(scope) or uuid4().hex
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, adding_header(send, header))
        finally:
            request_id_var.reset(token)


class UnexpectedErrorMiddleware:
    """Answer any unhandled exception with the documented JSON 500 and log its traceback.

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


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent (chunked) or unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimitMiddleware:
    """Answers 413 to request bodies over `max_bytes` without reading them into memory.

    A declared Content-Length over the limit is refused before the app runs (the server
    already holds bodies to their declared length). A chunked body is counted as the app
    reads it, and reading stops with PayloadTooLarge as soon as the count passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        length = declared_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await error_response(PayloadTooLarge())(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        received = 0

        async def receive_counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge()
            return message

        await self.app(scope, receive_counting, send)


class DocsContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to the docs pages' responses; other paths pass through.

    ReDoc 2 always renders the "API docs by Redocly" logo from cdn.redoc.ly; with this
    policy the browser never sends that request, and ReDoc hides the broken image.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, adding_header(send, self.header))
