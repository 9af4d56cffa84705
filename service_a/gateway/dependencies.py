"""The lifespan state of the gateway and the dependencies that hand it to the routes."""

from typing import Annotated

from fastapi import Depends, Request

from gateway.admission import Admission
from gateway.predictor_client import PredictorClient
from gateway.processing import InputProcessor
from service_common.app import lifespan_state
from service_common.draining import Draining
from service_common.observability import ObservabilityState


class State(ObservabilityState):
    """What the lifespan builds once; Starlette copies it into every request's scope."""

    predictor: PredictorClient
    processor: InputProcessor
    draining: Draining
    admission: Admission


async def get_predictor(request: Request) -> PredictorClient:
    return lifespan_state(request, State)["predictor"]


async def get_processor(request: Request) -> InputProcessor:
    return lifespan_state(request, State)["processor"]


async def get_draining(request: Request) -> Draining:
    return lifespan_state(request, State)["draining"]


async def admit_caller(request: Request) -> str | None:
    """The API key id of an admitted request (None without keys); see Admission.admit."""
    return await lifespan_state(request, State)["admission"].admit(request)


PredictorDep = Annotated[PredictorClient, Depends(get_predictor)]
ProcessorDep = Annotated[InputProcessor, Depends(get_processor)]
DrainingDep = Annotated[Draining, Depends(get_draining)]
CallerDep = Annotated[str | None, Depends(admit_caller)]
"""The id of the caller's API key: requiring it makes a route check keys and the limit."""
