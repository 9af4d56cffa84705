"""Request and response bodies of the predictor's HTTP API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class PredictRequest(BaseModel):
    """Text to classify."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"input": "walked the puppy on a leash"}]},
    )

    input: StrictStr = Field(
        description="Free text about an animal; must contain a non-whitespace character.",
    )


class Prediction(BaseModel):
    """The model's answer for one input."""

    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="Predicted class.", examples=["dog"])
    confidence: float = Field(
        ge=0, le=1, description="Model probability of the predicted class.", examples=[0.92]
    )
    input_length: int = Field(ge=0, description="len(input), in characters.", examples=[27])


class PredictResponse(BaseModel):
    """A prediction with a human-readable summary and the model version that made it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prediction": {"class": "dog", "confidence": 0.92, "input_length": 27},
                    "message": "Predicted class: dog with 92.0% confidence",
                    "model_version": "v1",
                }
            ]
        }
    )

    prediction: Prediction
    message: str
    model_version: str


class ServiceInfo(BaseModel):
    service: str = Field(examples=["service_b"])
    status: str = Field(examples=["running"])
    model_version: str | None = Field(description="Null until a model is loaded.")


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    status: str = Field(examples=["ready"])
    model_version: str = Field(examples=["v1"])


class ModelMetadata(BaseModel):
    """What was trained, from what, how well, and with which libraries."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    version: str = Field(examples=["v1"])
    created_at: datetime
    classes: list[str] = Field(examples=[["bird", "cat", "dog", "fish", "rabbit"]])
    metrics: dict[str, Any] = Field(examples=[{"test_accuracy": 0.97, "holdout_accuracy": 0.95}])
    data_sha256: dict[str, str]
    artifact_sha256: str
    library_versions: dict[str, str]
    config: dict[str, Any]


class ErrorMessage(BaseModel):
    """Body of every error the service answers with, except request validation (422)."""

    detail: str = Field(examples=["Model is not loaded yet"])
