"""The lifespan state of the predictor and the dependencies that hand it to the routes."""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials

from predictor.admin_auth import AdminGuard, bearer_token
from predictor.errors import AdminDisabled
from predictor.model import LoadedModel
from predictor.model_versions import VersionRegistry
from predictor.prediction import PredictionService
from predictor.schemas import VERSION_PATTERN
from predictor.scoring import ModelSlot
from predictor.training_service import TrainingService
from service_common.app import lifespan_state
from service_common.draining import Draining
from service_common.observability import ObservabilityState


class State(ObservabilityState):
    """What the lifespan builds once; Starlette copies it into every request's scope."""

    model_slot: ModelSlot
    predictions: PredictionService
    draining: Draining
    versions: VersionRegistry
    admin: AdminGuard
    training: TrainingService | None
    """None while the admin API is off (ADMIN_TOKEN unset)."""


async def get_model_slot(request: Request) -> ModelSlot:
    return lifespan_state(request, State)["model_slot"]


async def get_predictions(request: Request) -> PredictionService:
    return lifespan_state(request, State)["predictions"]


async def get_draining(request: Request) -> Draining:
    return lifespan_state(request, State)["draining"]


async def get_versions(request: Request) -> VersionRegistry:
    return lifespan_state(request, State)["versions"]


async def get_training(request: Request) -> TrainingService:
    training = lifespan_state(request, State)["training"]
    if training is None:
        raise AdminDisabled()
    return training


async def get_loaded_model(slot: Annotated[ModelSlot, Depends(get_model_slot)]) -> LoadedModel:
    """The served model; 503 while none is loaded."""
    return slot.require()


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_token)],
) -> None:
    """403 while the admin API is off, 401 without the right bearer token."""
    lifespan_state(request, State)["admin"].check(credentials)


ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]
LoadedModelDep = Annotated[LoadedModel, Depends(get_loaded_model)]
PredictionsDep = Annotated[PredictionService, Depends(get_predictions)]
DrainingDep = Annotated[Draining, Depends(get_draining)]
VersionsDep = Annotated[VersionRegistry, Depends(get_versions)]
TrainingDep = Annotated[TrainingService, Depends(get_training)]
VersionPath = Annotated[
    str, Path(pattern=VERSION_PATTERN, description="A model version.", examples=["v2"])
]
JobIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A training job's id.")]
