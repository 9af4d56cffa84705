"""Pure ASGI middleware: request ids, and the request body size limit."""

import re
from uuid import uuid4

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PayloadTooLarge, error_response
from gateway.logging_setup import request_id_var

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is reused only if it is a short token that is safe in headers and logs.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


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

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            request_id_var.reset(token)


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
