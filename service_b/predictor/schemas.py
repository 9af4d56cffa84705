"""Request and response bodies of the predictor's HTTP API."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from predictor.training_config import TrainingParams
from service_common.schemas import ServiceInfo
from service_common.text import NON_BLANK_PATTERN

VERSION_PATTERN = r"^v[1-9][0-9]{0,8}$"
"""A model version: `v` and a number below a billion (longer names could not be folder
names, and are refused rather than looked up)."""

ScoringPath = Literal["compiled", "pipeline"]
"""How the served model scores: arrays compiled from its pipeline, or the pipeline itself."""


class PredictRequest(BaseModel):
    """Text to classify."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"input": "walked the puppy on a leash"}]},
    )

    input: StrictStr = Field(
        description="Free text about an animal: at most MAX_INPUT_CHARS characters (the "
        "`maxLength`), with a non-whitespace one (the `pattern`).",
        json_schema_extra={"pattern": NON_BLANK_PATTERN},
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

    version: str = Field(pattern=VERSION_PATTERN, examples=["v1"])
    created_at: datetime
    classes: list[str] = Field(examples=[["bird", "cat", "dog", "fish", "rabbit"]])
    metrics: dict[str, Any] = Field(examples=[{"test_accuracy": 0.97, "holdout_accuracy": 0.95}])
    data_sha256: dict[str, str]
    artifact_sha256: str
    library_versions: dict[str, str]
    config: dict[str, Any]


ActivationPolicy = Literal["never", "if_better", "always"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]
ClassLabel = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
]
"""A class name: 1 to 64 letters, digits, `_` or `-`, starting with a letter or digit."""


class LabelledExample(BaseModel):
    """One extra training row."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(
        description="At most MAX_INPUT_CHARS characters, with a non-whitespace one.",
        examples=["the hamster runs in its wheel"],
        json_schema_extra={"pattern": NON_BLANK_PATTERN},
    )
    label: ClassLabel = Field(examples=["rabbit"])


class TrainRequest(BaseModel):
    """A training job: the recipe's tunable values to change, extra rows to train on, and
    whether to serve the version it produces."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "params": {"C": 5.0},
                    "examples": [{"text": "my kitten chases yarn", "label": "cat"}],
                    "activate": "if_better",
                }
            ]
        },
    )

    params: TrainingParams = Field(default_factory=TrainingParams)
    examples: list[LabelledExample] = Field(
        default_factory=list,
        description="Trained on together with the shipped data, at most TRAIN_MAX_EXAMPLES.",
    )
    activate: ActivationPolicy = Field(
        "if_better",
        description="`never`; `always`; `if_better`: when the new version's holdout accuracy "
        "(test accuracy without a holdout) is above the active version's.",
    )


class ActivationDecision(BaseModel):
    """Whether a job's version was activated, and why."""

    activated: bool
    reason: str = Field(examples=["holdout_accuracy 0.91 is above v1's 0.89"])
    metric: str | None = Field(None, examples=["holdout_accuracy"])
    candidate_value: float | None = Field(None, examples=[0.91])
    active_version: str | None = Field(None, examples=["v1"])
    active_value: float | None = Field(None, examples=[0.89])


TRAINING_JOB_EXAMPLE: dict[str, Any] = {
    "job_id": "6f1c2b7e9a0d4c3e8b5a7f6e1d2c3b4a",
    "status": "succeeded",
    "activate": "if_better",
    "created_at": "2026-01-15T09:30:00Z",
    "started_at": "2026-01-15T09:30:00.1Z",
    "finished_at": "2026-01-15T09:30:12Z",
    "params": {"C": 5.0},
    "examples": 1,
    "version": "v2",
    "metrics": {"test_accuracy": 0.88, "holdout_accuracy": 0.91},
    "activation": {
        "activated": True,
        "reason": "holdout_accuracy 0.91 is above v1's 0.89",
        "metric": "holdout_accuracy",
        "candidate_value": 0.91,
        "active_version": "v1",
        "active_value": 0.89,
    },
    "error": None,
}


class TrainingJob(BaseModel):
    """A training job's record, persisted next to the models."""

    model_config = ConfigDict(json_schema_extra={"examples": [TRAINING_JOB_EXAMPLE]})

    job_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    status: JobStatus
    activate: ActivationPolicy
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    params: dict[str, Any] = Field(description="The params the request set.")
    examples: int = Field(ge=0, description="Extra labelled rows trained on.")
    version: str | None = Field(None, description="The version produced, once it is.")
    metrics: dict[str, Any] | None = None
    activation: ActivationDecision | None = None
    error: str | None = Field(None, description="Why the job failed, on one line.")


class TrainingJobs(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"jobs": [TRAINING_JOB_EXAMPLE]}]})

    jobs: list[TrainingJob] = Field(description="Newest first.")


MODEL_VERSION_EXAMPLE: dict[str, Any] = {
    "version": "v2",
    "created_at": "2026-01-15T09:30:12Z",
    "classes": ["bird", "cat", "dog", "fish", "rabbit"],
    "metrics": {"test_accuracy": 0.88, "examples": 1, "holdout_accuracy": 0.91},
    "data_sha256": {
        "train": "332075e6d985bd4fe19b4002ef3eb87ae1869eb3d6ec35150f0cf4c2c77ed292",
        "examples": "3c76e86da5b81d68bc347ec07a1542b4d92a6b4c4090b19bc4cece29d90bfe90",
    },
    "active": True,
}


class ModelVersionSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_VERSION_EXAMPLE]})

    version: str = Field(examples=["v2"])
    created_at: datetime
    classes: list[str] = Field(examples=[["bird", "cat", "dog", "fish", "rabbit"]])
    metrics: dict[str, Any] = Field(examples=[{"test_accuracy": 0.88, "holdout_accuracy": 0.91}])
    data_sha256: dict[str, str]
    active: bool = Field(description="This process serves it on /predict.")


class ModelVersionList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"active_version": "v2", "pinned": False, "versions": [MODEL_VERSION_EXAMPLE]}
            ]
        }
    )

    active_version: str | None = Field(examples=["v2"])
    pinned: bool = Field(description="MODEL_VERSION pins the served version.")
    versions: list[ModelVersionSummary] = Field(description="Oldest first.")


class Activation(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"active_version": "v2", "previous_version": "v1", "load_seconds": 0.31}]
        }
    )

    active_version: str = Field(examples=["v2"])
    previous_version: str | None = Field(examples=["v1"])
    load_seconds: float = Field(
        description="Time to load and verify it (0 when it was already loaded).",
        examples=[0.31],
    )
