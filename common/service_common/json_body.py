"""One rule for JSON request bodies on both services: strict JSON, UTF-8, valid Unicode.

FastAPI parses bodies with `json.loads`, which accepts UTF-16 and UTF-32, NaN and
Infinity, and lone surrogate escapes such as "\\ud800" (text that cannot be encoded
again, so the gateway failed with a 500 when forwarding it), and which raises
RecursionError or ValueError, answered 400, for very deep nesting or very long numbers.
The routes of both services parse with pydantic-core's parser instead, which refuses all
of these, each as a 422 `json_invalid` naming the problem and where it is.

The field types below accept exactly what their JSON Schema type says, so that the
OpenAPI documents tell the truth: pydantic's lax mode also takes "5" and true for a
number, and its strict mode refuses 2.0, which JSON Schema counts as an integer.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, Strict, StrictBool, StrictFloat
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


def _whole_number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


WHOLE_NUMBER = BeforeValidator(_whole_number)
"""Takes a number with a zero fraction (2.0) as the integer it is. It goes last, after any
constraint, which then applies to the integer (and reaches the JSON schema):
`Annotated[int, Strict(), Field(ge=1), WHOLE_NUMBER]`."""
JsonInt = Annotated[int, Strict(), WHOLE_NUMBER]
"""A JSON Schema `integer`: an integer, or a number with a zero fraction (2.0); never a
string or a boolean."""
JsonNumber = StrictFloat
"""A JSON Schema `number`: an integer or a float; never a string or a boolean."""
JsonBool = StrictBool
"""A JSON Schema `boolean`: true or false only."""
