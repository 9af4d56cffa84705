"""Domain errors both services raise, and the one place that turns errors into HTTP answers.

Each error a client can see carries its status code and a fixed public detail; the cause
(exception class, message, host, port) goes to the log only, never into a response body.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException

from service_common.json_body import InvalidJsonBody

INTERNAL_ERROR_DETAIL = "Internal server error"
PAYLOAD_TOO_LARGE_DETAIL = "Request body too large"


class ServiceError(Exception):
    """Base of the errors a client can see: each carries its status and public detail."""

    status_code = 500
    detail = INTERNAL_ERROR_DETAIL

    def __init__(self) -> None:
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str] | None:
        return None

    def body(self) -> dict[str, Any]:
        """The JSON answered: `{"detail": ...}`, and what a subclass adds to it."""
        return {"detail": self.detail}


class RetryLater(ServiceError):
    """An error the same request may get past later: its answer says when, in Retry-After."""

    def __init__(self, retry_after: int) -> None:
        """`retry_after`: seconds."""
        super().__init__()
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ShuttingDown(ServiceError):
    """The service is finishing its last requests before it exits (graceful shutdown)."""

    status_code = 503
    detail = "Service is shutting down"


class InvalidField(ServiceError):
    """A body field that passed the schema but breaks a rule that depends on settings.

    Answered 422 in the shape of FastAPI's own validation errors, so clients parse one
    format; the input itself is not echoed back (it may be very long).
    """

    status_code = 422

    def __init__(
        self,
        field: str | tuple[str | int, ...],
        error_type: str,
        message: str,
        context: dict[str, Any] | None = None,
    ) -> None:
        """`field` is a top-level field's name, or the path to a nested one."""
        super().__init__()
        self.field = field
        self.error_type = error_type
        self.message = message
        self.context = context

    def item(self) -> dict[str, Any]:
        path = self.field if isinstance(self.field, tuple) else (self.field,)
        item: dict[str, Any] = {"type": self.error_type, "loc": ["body", *path]}
        item["msg"] = self.message
        if self.context:
            item["ctx"] = self.context
        return item


class FieldConflict(InvalidField):
    """A body field that its schema accepts but that the service's current state cannot
    honour (the served model's classes, the training recipe and its data), which no
    OpenAPI document can state in advance.

    Answered 409 (the request conflicts with what the server has), in the same shape as a
    422, so that a 422 always means a request its schema refuses.
    """

    status_code = 409


class StartupError(Exception):
    """A setting or file the service needs at start-up is unusable; the message says which."""


def describe_validation_error(error: ValidationError) -> str:
    """`where: what is wrong` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: {problem['msg']}"
        for problem in error.errors(include_url=False)
    )


class PayloadTooLarge(HTTPException):
    """The request body is larger than MAX_BODY_BYTES.

    Unlike the errors above it is an HTTPException: it is raised while FastAPI reads the
    body, and FastAPI turns any other exception raised there into a 400.
    """

    def __init__(self) -> None:
        # The rest of the body is not read, so the connection cannot be reused.
        super().__init__(413, PAYLOAD_TOO_LARGE_DETAIL, headers={"Connection": "close"})


def error_response(error: ServiceError | HTTPException) -> Response:
    """The `{"detail": ...}` response of an error, with its status code and headers.

    Rendered with pydantic-core, not JSONResponse's json.dumps: this is the answer to every
    refused call while the predictor is down, and it must cost no more than a success.
    """
    body = error.body() if isinstance(error, ServiceError) else {"detail": error.detail}
    return Response(
        to_json(body),
        status_code=error.status_code,
        headers=error.headers,
        media_type="application/json",
    )


def validation_error_response(items: list[dict[str, Any]], status_code: int = 422) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"detail": jsonable_encoder(items)})


def register_error_handlers(app: FastAPI, body_examples: Mapping[str, str]) -> None:
    """Map every error to its status: 422 lists for bad requests, `{"detail": ...}` otherwise.

    `body_examples` holds a valid body per route path (the first: the main route's, for
    any other), quoted in the 422 for a body that is not a JSON object (the usual cause is
    a missing Content-Type).
    """
    main_example = next(iter(body_examples.values()))

    def not_a_json_object(request: Request) -> str:
        route_path = getattr(request.scope.get("route"), "path", "")
        example = body_examples.get(route_path, main_example)
        return (
            f"Body must be a JSON object such as {example}, "
            "sent with Content-Type: application/json"
        )

    # Each handler is registered for one class (below), so Starlette passes it nothing
    # else: its assert only narrows `error` for mypy, and `python -O` dropping it changes
    # nothing (bandit B101).
    async def request_invalid(request: Request, error: Exception) -> JSONResponse:
        # FastAPI's format minus the echoed input (it can be a megabyte).
        assert isinstance(error, RequestValidationError)  # nosec B101 # narrowing only, see above
        items = []
        for problem in error.errors():
            item = {key: problem[key] for key in ("type", "loc", "msg", "ctx") if key in problem}
            if tuple(problem.get("loc", ())) == ("body",) and problem.get("type") in (
                "model_attributes_type",
                "model_type",
            ):
                item["msg"] = not_a_json_object(request)
            items.append(item)
        return validation_error_response(items)

    async def field_invalid(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidField)  # nosec B101 # narrowing only, see above
        return validation_error_response([error.item()], error.status_code)

    async def http_error(request: Request, error: Exception) -> Response:
        # FastAPI answers 400 for a body its JSON parsing raised on; that is a 422 like any
        # other invalid body, with the parser's reason.
        assert isinstance(error, HTTPException)  # nosec B101 # narrowing only, see above
        if error.status_code == 400 and isinstance(error.__cause__, InvalidJsonBody):
            return validation_error_response(
                [{"type": "json_invalid", "loc": ["body"], "msg": str(error.__cause__)}]
            )
        return await http_exception_handler(request, error)

    async def service_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, ServiceError)  # nosec B101 # narrowing only, see above
        return error_response(error)

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(InvalidField, field_invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ServiceError, service_error)
