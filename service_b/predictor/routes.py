"""HTTP routes of the predictor: thin handlers over the prediction service and model slot."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from predictor import responses
from predictor.admin_routes import admin_router
from predictor.dependencies import (
    DrainingDep,
    LoadedModelDep,
    ModelSlotDep,
    PredictionsDep,
    VersionPath,
)
from predictor.schemas import ModelMetadata, PredictorInfo, PredictRequest, PredictResponse, Ready
from service_common.errors import ShuttingDown
from service_common.json_body import StrictJsonRoute
from service_common.schemas import Health

SERVICE_NAME = "service_b"

router = APIRouter(route_class=StrictJsonRoute)


@router.get("/", response_model=PredictorInfo, responses=responses.OK, tags=["service"])
async def read_service_info(slot: ModelSlotDep) -> PredictorInfo:
    """Service name, status and the version of the model being served."""
    model = slot.model
    return PredictorInfo(
        service=SERVICE_NAME,
        status="running" if model else "loading",
        model_version=model.version if model else None,
    )


@router.get("/health", response_model=Health, responses=responses.OK, tags=["service"])
async def read_health() -> Health:
    """Liveness: 200 whenever the process is up; never touches the model."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses=responses.READY, tags=["service"])
async def read_readiness(model: LoadedModelDep, draining: DrainingDep) -> Ready:
    """Readiness: 200 with the model version once a model is loaded; 503 before, and from
    the start of a graceful shutdown."""
    if draining.active:
        raise ShuttingDown()
    return Ready(status="ready", model_version=model.version, scoring_path=model.scoring_path)


@router.get(
    "/model", response_model=ModelMetadata, responses=responses.MODEL_REQUIRED, tags=["model"]
)
async def read_model_metadata(model: LoadedModelDep) -> dict[str, Any]:
    """Metadata of the served model: version, classes, metrics, data hash, libraries."""
    return model.metadata


@router.post(
    "/predict", response_model=PredictResponse, responses=responses.PREDICT, tags=["model"]
)
async def create_prediction(body: PredictRequest, predictions: PredictionsDep) -> JSONResponse:
    """Classify a text as cat, dog, bird, fish or rabbit."""
    return JSONResponse(await predictions.predict(body.input))


@router.post(
    "/models/{version}/predict",
    response_model=PredictResponse,
    responses=responses.VERSION_PREDICT,
    tags=["model"],
)
async def create_version_prediction(
    version: VersionPath, body: PredictRequest, predictions: PredictionsDep
) -> JSONResponse:
    """Classify a text with `version`, served or not (loaded on first use, then kept)."""
    return JSONResponse(await predictions.predict_version(version, body.input))


router.include_router(admin_router)
