"""HTTP routes: thin handlers over the scorer and the model slot."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from predictor.config import Settings
from predictor.errors import InputRejected, ModelNotReady, PredictionFailed
from predictor.model import LoadedModel
from predictor.schemas import (
    ErrorMessage,
    Health,
    ModelMetadata,
    PredictRequest,
    PredictResponse,
    Ready,
    ServiceInfo,
    ValidationErrorBody,
)
from predictor.scoring import ModelSlot, Scorer

SERVICE_NAME = "service_b"

router = APIRouter()


async def get_settings(request: Request) -> Settings:
    return request.state.settings


async def get_model_slot(request: Request) -> ModelSlot:
    return request.state.model_slot


async def get_scorer(request: Request) -> Scorer:
    return request.state.scorer


async def get_loaded_model(slot: Annotated[ModelSlot, Depends(get_model_slot)]) -> LoadedModel:
    return slot.require()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]
LoadedModelDep = Annotated[LoadedModel, Depends(get_loaded_model)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]


async def valid_text(body: PredictRequest, settings: SettingsDep) -> str:
    """The request's text, once it passes the rules that depend on settings."""
    text = body.input
    if len(text) > settings.MAX_INPUT_CHARS:
        raise InputRejected(
            f"input is {len(text)} characters long; the limit is {settings.MAX_INPUT_CHARS}",
            "string_too_long",
        )
    if not text.strip():
        raise InputRejected("input must contain at least one non-whitespace character", "blank")
    return text


# OpenAPI documentation of the answers: every status each route can return, with examples.
def error_doc(description: str, detail: str) -> dict[str, Any]:
    return {
        "model": ErrorMessage,
        "description": description,
        "content": {"application/json": {"example": {"detail": detail}}},
    }


NOT_READY = error_doc("No model is loaded yet (start-up training).", ModelNotReady.detail)
PREDICTION_FAILED = error_doc("The model failed on this input.", PredictionFailed.detail)
VALIDATION_ERROR = {
    "model": ValidationErrorBody,
    "description": "Invalid body: not JSON, `input` missing or not a string, blank, or too long.",
    "content": {
        "application/json": {
            "example": {
                "detail": [
                    {
                        "type": "string_too_long",
                        "loc": ["body", "input"],
                        "msg": "input is 12000 characters long; the limit is 10000",
                    }
                ]
            }
        }
    },
}


@router.get("/", response_model=ServiceInfo, tags=["service"])
async def read_service_info(slot: ModelSlotDep) -> dict[str, Any]:
    """Service name, status and the version of the model being served."""
    model = slot.model
    return {
        "service": SERVICE_NAME,
        "status": "running" if model else "loading",
        "model_version": model.version if model else None,
    }


@router.get("/health", response_model=Health, tags=["service"])
async def read_health() -> dict[str, str]:
    """Liveness: 200 whenever the process is up; never touches the model."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: NOT_READY},
    tags=["service"],
)
async def read_readiness(model: LoadedModelDep) -> dict[str, str]:
    """Readiness: 200 with the model version once a model is loaded, 503 before."""
    return {"status": "ready", "model_version": model.version}


@router.get(
    "/model",
    response_model=ModelMetadata,
    responses={503: NOT_READY},
    tags=["model"],
)
async def read_model_metadata(model: LoadedModelDep) -> dict[str, Any]:
    """Metadata of the served model: version, classes, metrics, data hash, libraries."""
    return model.metadata


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={
        422: VALIDATION_ERROR,
        500: PREDICTION_FAILED,
        503: NOT_READY,
    },
    tags=["model"],
)
async def create_prediction(
    text: Annotated[str, Depends(valid_text)], scorer: ScorerDep
) -> JSONResponse:
    """Classify a text as cat, dog, bird, fish or rabbit."""
    score, version = await scorer.score(text)
    return JSONResponse(prediction_body(text, score.label, score.confidence, version))


def prediction_body(text: str, label: str, confidence: float, version: str) -> dict[str, Any]:
    confidence = round(confidence, 4)
    return {
        "prediction": {"class": label, "confidence": confidence, "input_length": len(text)},
        "message": f"Predicted class: {label} with {confidence * 100:.1f}% confidence",
        "model_version": version,
    }
