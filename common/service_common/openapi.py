"""OpenAPI documentation of answers, shared by both services' route docs, and what every
service's document gets once generated: the X-Request-ID parameter of every operation and
the limits that come from settings."""

from collections.abc import Mapping
from typing import Any

from service_common.errors import INTERNAL_ERROR_DETAIL, PAYLOAD_TOO_LARGE_DETAIL
from service_common.logging_setup import REQUEST_ID_PATTERN
from service_common.schemas import ErrorMessage, ValidationErrorBody

REQUEST_ID_HEADER_DOC = {
    "X-Request-ID": {
        "description": "The client's X-Request-ID if it is a sane token (1 to 64 letters, "
        "digits or `._:-`), else a generated id; printed in the request's log lines (and "
        "the gateway sends it to service B).",
        "required": True,
        "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
    }
}

REQUEST_ID_PARAMETER: dict[str, Any] = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Optional request id, used in the log lines and answered in the "
    "X-Request-ID header when it is 1 to 64 letters, digits or `._:-`. Any other value "
    "(empty, longer, other characters) is not refused: it is replaced by a generated id, "
    "as a missing one is.",
    "schema": {"type": "string"},
}
"""The request header every operation takes (the middleware reads it on every route).
No `pattern`: a value outside it is valid, only not reused."""

ResponseDocs = dict[int | str, dict[str, Any]]


def ok_doc(description: str | None = None) -> dict[str, Any]:
    """A 200 with the request-id header (the body's example comes from its response model)."""
    doc: dict[str, Any] = {"headers": REQUEST_ID_HEADER_DOC}
    if description:
        doc["description"] = description
    return doc


def error_doc(
    description: str,
    detail: str,
    headers: dict[str, Any] | None = None,
    model: type[ErrorMessage] = ErrorMessage,
    example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An error status answered with `{"detail": detail}` (`model` and `example` for a body
    with more fields)."""
    return {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": example or {"detail": detail}}},
        "headers": REQUEST_ID_HEADER_DOC | (headers or {}),
    }


PAYLOAD_TOO_LARGE = error_doc(
    "The request body is larger than MAX_BODY_BYTES.", PAYLOAD_TOO_LARGE_DETAIL
)


def validation_error_doc(description: str, example: dict[str, Any]) -> dict[str, Any]:
    """A 422 with one example problem."""
    return {
        "model": ValidationErrorBody,
        "description": description,
        "headers": REQUEST_ID_HEADER_DOC,
        "content": {"application/json": {"example": {"detail": [example]}}},
    }


INTERNAL_ERROR = error_doc("Unexpected error (the cause is in the log).", INTERNAL_ERROR_DETAIL)
"""The 500 any route can answer (the request-context middleware's)."""

SchemaLimits = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""Keywords to set on properties of the document's schemas, `{schema: {property:
{keyword: value}}}`: the limits that settings decide (maxLength, maxItems), so that the
document states the configured value."""


def complete_openapi(document: dict[str, Any], limits: SchemaLimits) -> None:
    """Add to a generated document what FastAPI cannot know: `limits`, and the X-Request-ID
    parameter on every operation. KeyError when a schema or property of `limits` is not in
    the document (a renamed model or field)."""
    schemas = document["components"]["schemas"]
    for schema_name, properties in limits.items():
        for property_name, keywords in properties.items():
            schemas[schema_name]["properties"][property_name].update(keywords)
    for operations in document["paths"].values():
        for operation in operations.values():
            parameters = operation.setdefault("parameters", [])
            if not any(parameter.get("name") == "X-Request-ID" for parameter in parameters):
                parameters.append(dict(REQUEST_ID_PARAMETER))
