"""One rule for JSON request bodies on both services: strict JSON, UTF-8, valid Unicode.

FastAPI parses bodies with `json.loads`, which accepts UTF-16 and UTF-32, NaN and
Infinity, and lone surrogate escapes such as "\\ud800" (text that cannot be encoded
again, so the gateway failed with a 500 when forwarding it), and which raises
RecursionError or ValueError, answered 400, for very deep nesting or very long numbers.
The routes of both services parse with pydantic-core's parser instead, which refuses all
of these, each as a 422 `json_invalid` naming the problem and where it is.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic_core import from_json

# What the parser says, and what it means for the client.
_HINTS = (
    ("surrogate", "text must be valid Unicode: a \\ud800-\\udfff escape needs its pair"),
    ("hex escape", "text must be valid Unicode: a \\ud800-\\udfff escape needs its pair"),
    ("unicode code point", "the body must be UTF-8 encoded"),
    ("recursion limit", "the body is nested too deeply"),
    ("number out of range", "the number is too long"),
)


class InvalidJsonBody(ValueError):
    """The body is not strict UTF-8 JSON; the message says what and where."""


def parse_json_body(body: bytes) -> Any:
    """The JSON value of `body`, or InvalidJsonBody."""
    try:
        return from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise InvalidJsonBody(describe_json_error(str(error))) from None


def describe_json_error(parser_message: str) -> str:
    hints = [hint for needle, hint in _HINTS if needle in parser_message]
    return f"Invalid JSON: {parser_message}" + (f" ({hints[0]})" if hints else "")


class StrictJsonRequest(Request):
    """A request whose `json()` is `parse_json_body` of its body."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route that reads its JSON body strictly (the router's `route_class`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle_strictly(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return handle_strictly
