"""Request and response bodies of the gateway's HTTP API, and of the predictor's answer."""

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from service_common.schemas import ErrorMessage, ServiceInfo
from service_common.text import NON_BLANK_PATTERN

LOGGED_STATUS: Final = "Input logged successfully"
MODEL_VERSION_PATTERN: Final = r"^v[1-9][0-9]{0,8}$"
"""As service_b names its versions: `v` and a number below a billion."""

PREDICTION_EXAMPLE: dict[str, Any] = {
    "prediction": {"class": "dog", "confidence": 0.92, "input_length": 13},
    "message": "Predicted class: dog with 92.0% confidence",
    "model_version": "v1",
}


class ProcessRequest(BaseModel):
    """An input to log and, unless `forward_to_model` is false, to classify."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "examples": [
                {"data": "cat image data", "forward_to_model": True},
                {"data": "just log this", "forward_to_model": False},
                {"data": "my kitten purrs", "model_version": "v2"},
            ],
            # Only a forwarded text must be non-blank (a blank one may still be logged).
            "if": {
                "properties": {"forward_to_model": {"const": False}},
                "required": ["forward_to_model"],
            },
            "else": {"properties": {"data": {"pattern": NON_BLANK_PATTERN}}},
        },
    )

    data: str = Field(
        description="The text to log (and classify). At most MAX_DATA_CHARS characters "
        "(10,000 by default, the `maxLength`); unless `forward_to_model` is false, it must "
        "contain a non-whitespace character (the `pattern` of the `else` branch).",
    )
    forward_to_model: bool = Field(
        True, description="Send `data` to the predictor and return its prediction."
    )
    model_version: str | None = Field(
        None,
        pattern=MODEL_VERSION_PATTERN,
        description="Classify with this model version of the predictor instead of the one "
        "it serves (its `/models/{version}/predict`); ignored when not forwarding.",
        examples=["v2"],
    )


class Prediction(BaseModel):
    """The predictor's answer for one input (the fields the gateway checks; more may follow)."""

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)

    class_: str = Field(alias="class", description="Predicted class.", examples=["dog"])
    confidence: float = Field(
        allow_inf_nan=False, description="Probability of the predicted class.", examples=[0.92]
    )


class PredictorResponse(BaseModel):
    """The predictor's body, as the gateway requires it before passing it on unchanged."""

    model_config = ConfigDict(
        strict=True, extra="allow", json_schema_extra={"examples": [PREDICTION_EXAMPLE]}
    )

    prediction: Prediction
    message: str = Field(examples=["Predicted class: dog with 92.0% confidence"])
    model_version: str = Field(examples=["v1"])


class PredictorReadiness(BaseModel):
    """The predictor's /ready answer, as the gateway requires it: proof that a predictor,
    with a model loaded, answered (any other server's 200 is not)."""

    model_config = ConfigDict(strict=True, extra="allow")

    status: Literal["ready"]
    model_version: str


class ProcessResponse(BaseModel):
    """The input was logged; `model_prediction` holds the predictor's body when forwarded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": LOGGED_STATUS, "model_prediction": PREDICTION_EXAMPLE},
                {"status": LOGGED_STATUS},
            ]
        }
    )

    status: Literal["Input logged successfully"] = LOGGED_STATUS
    model_prediction: PredictorResponse | None = Field(
        None,
        description="The predictor's JSON response exactly as it sent it; "
        "absent when `forward_to_model` is false.",
    )


BreakerStateName = Literal["closed", "open", "half_open"]


class ReplicaStatus(BaseModel):
    """One replica of the predictor, as the gateway's readiness check found it."""

    address: str = Field(
        description="The address called (`host:port`): one of those SERVICE_B_URL's host "
        "resolves to, or the host itself while it resolves to none.",
        examples=["10.0.1.7:8001"],
    )
    name: str | None = Field(
        description="The name the replica gave (its X-Served-By header), when it answered.",
        examples=["service-b-7d4f9c-x2x8q"],
    )
    state: Literal["ready", "not_ready"] = Field(examples=["ready"])
    breaker: BreakerStateName | None = Field(
        description="Its circuit breaker's state (null when BREAKER_ENABLED is false).",
        examples=["closed"],
    )


class NotReadyMessage(ErrorMessage):
    """Body of the gateway's 503 on /ready: the reason, the circuit breakers' best state
    and, when it was checked, each replica of the predictor."""

    breaker: BreakerStateName | None = Field(
        None,
        description="The best state among the replicas' breakers (closed if any is); null "
        "when BREAKER_ENABLED is false.",
        examples=["open"],
    )
    replicas: list[ReplicaStatus] | None = Field(
        None, description="Absent while the gateway is shutting down."
    )


class GatewayInfo(ServiceInfo):
    """The gateway's name and status."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"service": "service_a", "status": "running"}]}
    )


_REPLICA_EXAMPLE: dict[str, Any] = {
    "address": "10.0.1.7:8001",
    "name": "service-b-7d4f9c-x2x8q",
    "state": "ready",
    "breaker": "closed",
}


class Ready(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "service_b": "ready",
                    "breaker": "closed",
                    "replicas": [_REPLICA_EXAMPLE],
                }
            ]
        }
    )

    status: Literal["ready"] = Field(examples=["ready"])
    service_b: Literal["ready"] = Field(
        description="At least one replica's readiness endpoint answered 200 while its "
        "breaker let calls through.",
        examples=["ready"],
    )
    breaker: BreakerStateName | None = Field(
        None,
        description="The best state among the replicas' circuit breakers (closed if any "
        "is; null when BREAKER_ENABLED is false).",
        examples=["closed"],
    )
    replicas: list[ReplicaStatus] = Field(
        description="Every replica of the predictor the gateway knows, with its state."
    )


_LOGGED_ONLY_BODY = b'{"status":"' + LOGGED_STATUS.encode() + b'"}'
_FORWARDED_BODY_START = b'{"status":"' + LOGGED_STATUS.encode() + b'","model_prediction":'


def process_response_body(model_prediction: bytes | None) -> bytes:
    """A ProcessResponse as JSON, with the predictor's body (already checked) embedded as is."""
    if model_prediction is None:
        return _LOGGED_ONLY_BODY
    return _FORWARDED_BODY_START + model_prediction + b"}"
