"""The lifespan state of the predictor and the dependencies that hand it to the routes."""

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from predictor.model import LoadedModel
from predictor.prediction import PredictionService
from predictor.scoring import ModelSlot
from service_common.app import lifespan_state
from service_common.draining import Draining


class State(TypedDict):
    """What the lifespan builds once; Starlette copies it into every request's scope."""

    model_slot: ModelSlot
    predictions: PredictionService
    draining: Draining


async def get_model_slot(request: Request) -> ModelSlot:
    return lifespan_state(request, State)["model_slot"]


async def get_predictions(request: Request) -> PredictionService:
    return lifespan_state(request, State)["predictions"]


async def get_draining(request: Request) -> Draining:
    return lifespan_state(request, State)["draining"]


async def get_loaded_model(slot: Annotated[ModelSlot, Depends(get_model_slot)]) -> LoadedModel:
    """The served model; 503 while none is loaded."""
    return slot.require()


ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]
LoadedModelDep = Annotated[LoadedModel, Depends(get_loaded_model)]
PredictionsDep = Annotated[PredictionService, Depends(get_predictions)]
DrainingDep = Annotated[Draining, Depends(get_draining)]
