"""Checks of an OpenAPI document."""

from typing import Any


def has_example(spec: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether a documented response shows an example body (its own, or its schema's)."""
    content = response["content"]["application/json"]
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return any(key in content or key in schema for key in ("example", "examples"))
