"""Pure ASGI middleware of both services: the request's context (its id, trace, metrics
and the answer to an unexpected error), the request body limit and the docs pages'
Content-Security-Policy. `standard_middleware` lists them in the order they wrap the app."""

import logging
import re
import time
from uuid import uuid4

from fastapi.responses import JSONResponse
from opentelemetry.trace import Span
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_common.errors import INTERNAL_ERROR_DETAIL, PayloadTooLarge
from service_common.logging_setup import REQUEST_ID_PATTERN, request_id_var
from service_common.metrics import HttpMetrics, method_label, route_label
from service_common.tracing import (
    TRACEPARENT_HEADER,
    end_server_span,
    start_trace,
    trace_context_var,
)

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# A client's X-Request-ID is reused only if it is such a token; any other value, the
# empty one included, is replaced by a generated id, never refused.
_VALID_REQUEST_ID = re.compile(REQUEST_ID_PATTERN.encode("ascii"))

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
    """The middleware stack of every service, outermost first."""
    return [
        Middleware(
            RequestContextMiddleware,
            metrics_enabled=metrics_enabled,
            tracing_enabled=tracing_enabled,
        ),
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


def context_headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The request's first X-Request-ID and `traceparent` values, found in one pass."""
    request_id = traceparent = None
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if request_id is None:
                request_id = value
        elif name == TRACEPARENT_HEADER and traceparent is None:
            traceparent = value
    return request_id, traceparent


def sane_request_id(value: bytes | None) -> str | None:
    """The client's X-Request-ID if it is a sane token, else None."""
    if value is None or not _VALID_REQUEST_ID.fullmatch(value):
        return None
    return value.decode("ascii")


class RequestContextMiddleware:
    """What every request gets around it, in one layer with one `send` wrapper (each
    layer is a coroutine and a wrapper call per message, on every request):

    - its request id, for its log lines and the X-Request-ID response header: the
      client's X-Request-ID when it is a sane token (letters, digits, `._:-`, at most 64
      characters), a fresh UUID otherwise;
    - with `tracing_enabled`, its trace (`service_common.tracing`), and with a tracer in
      the lifespan state, its server span;
    - with `metrics_enabled`, its count and duration, by route template, method and status,
      in the lifespan state's HttpMetrics;
    - the documented JSON 500 for an unhandled exception, whose traceback is logged with
      the request's ids. The exception goes no further, so the server does not log it
      a second time, and the 500 is counted and carries X-Request-ID like any answer.
    """

    def __init__(self, app: ASGIApp, *, metrics_enabled: bool, tracing_enabled: bool) -> None:
        self.app = app
        self.metrics_enabled = metrics_enabled
        self.tracing_enabled = tracing_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        state = scope.get("state", {})
        raw_request_id, traceparent = context_headers(scope)
        request_id = sane_request_id(raw_request_id) or uuid4().hex
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets when the app fails before answering
        response_started = False

        metrics: HttpMetrics | None = state.get("http_metrics") if self.metrics_enabled else None
        span: Span | None = None
        recorded = False

        def record() -> None:
            # Before the answer's last message goes out: a client that has its answer
            # finds it counted in the next scrape, whichever worker answers that.
            nonlocal recorded
            recorded = True
            if span is not None or metrics is not None:
                route = route_label(scope)
                if span is not None:
                    end_server_span(span, scope["method"], route, status)
                if metrics is not None:
                    seconds = time.perf_counter() - started
                    metrics.observe(route, method_label(scope), status, seconds)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()
            await send(message)

        request_token = request_id_var.set(request_id)
        trace_token = None
        if self.tracing_enabled:
            context, span = start_trace(traceparent, scope, state.get("tracer"))
            trace_token = trace_context_var.set(context)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("Unhandled error while serving %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = JSONResponse(status_code=500, content={"detail": INTERNAL_ERROR_DETAIL})
            await response(scope, receive, send_with_id)
        finally:
            if trace_token is not None:
                trace_context_var.reset(trace_token)
            request_id_var.reset(request_token)
            if not recorded:  # the answer never finished (a failure while streaming it)
                record()


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

    The refusal comes when the route reads the body, so it is its route's 413 (in the
    metrics, too) and a path or method no route takes is still a 404 or 405. A declared
    Content-Length over the limit is refused at the first read, before any of the body
    is received; a chunked body is counted as it is read, and reading stops with
    PayloadTooLarge as soon as the count passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        length = declared_length(scope)
        if length is not None and length <= self.max_bytes:
            # The server holds a body to its declared length: nothing to count.
            await self.app(scope, receive, send)
            return

        received = 0 if length is None else length

        async def receive_counting() -> Message:
            nonlocal received
            if received > self.max_bytes:
                raise PayloadTooLarge()
            message = await receive()
            if message["type"] == "http.request" and length is None:
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
