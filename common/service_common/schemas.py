"""Response bodies both services answer with: errors, 422s, liveness and service info."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorMessage(BaseModel):
    """Body of every error a service answers with, except request validation (422)."""

    detail: str = Field(examples=["Internal server error"])


class ValidationErrorItem(BaseModel):
    type: str = Field(examples=["string_too_long"])
    loc: list[str | int] = Field(examples=[["body", "data"]])
    msg: str = Field(examples=["String should have at most 10000 characters"])
    ctx: dict[str, Any] | None = Field(None, examples=[{"max_length": 10000}])


class ValidationErrorBody(BaseModel):
    """Body of a 422: one item per problem found in the request (the input is not echoed)."""

    detail: list[ValidationErrorItem]


class Health(BaseModel):
    """Liveness: the process is up."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str = Field(examples=["ok"])


class ServiceInfo(BaseModel):
    """The service's name and status (each service documents its own example)."""

    service: str
    status: str
