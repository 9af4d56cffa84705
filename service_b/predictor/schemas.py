"""Request and response bodies of the predictor's HTTP API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from service_common.schemas import ServiceInfo

ScoringPath = Literal["compiled", "pipeline"]
"""How the served model scores: arrays compiled from its pipeline, or the pipeline itself."""


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


class PredictorInfo(ServiceInfo):
    """The predictor's name, status and the version of the model being served."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"service": "service_b", "status": "running", "model_version": "v1"}]
        }
    )

    model_version: str | None = Field(description="Null until a model is loaded.")


class Ready(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "model_version": "v1", "scoring_path": "compiled"}]
        }
    )

    status: str = Field(examples=["ready"])
    model_version: str = Field(examples=["v1"])
    scoring_path: ScoringPath = Field(
        description="`compiled` once the model's compiled path gave its pipeline's answers "
        "at load; `pipeline` when SCORING_PATH says so or the compiled path was refused."
    )


MODEL_METADATA_EXAMPLE: dict[str, Any] = {
    "version": "v1",
    "created_at": "2026-01-15T09:30:00.000000Z",
    "classes": ["bird", "cat", "dog", "fish", "rabbit"],
    "metrics": {
        "train_size": 1200,
        "test_size": 300,
        "test_accuracy": 0.97,
        "holdout_size": 200,
        "holdout_accuracy": 0.95,
    },
    "data_sha256": {
        "train": "205a94d84c3a1fbe7a116c484f2386ebb2ce22529fce972e195ed2347501b4de",
        "holdout": "52842b435c831cf8889a0cbb6595108eb4bd1eda6432b078ab0580dcd3355fa0",
    },
    "artifact_sha256": "ef08f6f84db002a62eb8c24ca685ba351a9d49bd1dbd9b88cb07db451f68ea73",
    "library_versions": {
        "python": "3.11.7",
        "scikit-learn": "1.9.1",
        "numpy": "2.4.6",
        "scipy": "1.17.1",
        "skops": "0.16.0",
    },
    "config": {
        "seed": 42,
        "data": {"train_path": "data/animals.csv", "holdout_path": "data/holdout.csv"},
        "classifier": {"C": 10.0, "max_iter": 2000},
    },
}


class ModelMetadata(BaseModel):
    """What was trained, from what, how well, and with which libraries."""

    model_config = ConfigDict(
        extra="allow",
        protected_namespaces=(),
        json_schema_extra={"examples": [MODEL_METADATA_EXAMPLE]},
    )

    version: str = Field(pattern=r"^v[1-9][0-9]*$", examples=["v1"])
    created_at: datetime
    classes: list[str] = Field(examples=[["bird", "cat", "dog", "fish", "rabbit"]])
    metrics: dict[str, Any] = Field(examples=[{"test_accuracy": 0.97, "holdout_accuracy": 0.95}])
    data_sha256: dict[str, str]
    artifact_sha256: str
    library_versions: dict[str, str]
    config: dict[str, Any]
