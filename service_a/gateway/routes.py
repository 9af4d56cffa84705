"""HTTP routes of the gateway: thin handlers over the input processor and predictor client."""

from fastapi import APIRouter, Response

from gateway import responses
from gateway.dependencies import CallerDep, DrainingDep, PredictorDep, ProcessorDep
from gateway.errors import PredictorUnavailable
from gateway.predictor_client import SERVED_BY
from gateway.schemas import GatewayInfo, ProcessRequest, ProcessResponse, Ready
from service_common.errors import ShuttingDown, error_response
from service_common.json_body import StrictJsonRoute
from service_common.logging_setup import current_request_id
from service_common.schemas import Health

SERVICE_NAME = "service_a"
PROCESS_PATH = "/process"

router = APIRouter(route_class=StrictJsonRoute)


@router.get("/", response_model=GatewayInfo, responses=responses.OK, tags=["service"])
async def read_service_info() -> GatewayInfo:
    """Service name and status."""
    return GatewayInfo(service=SERVICE_NAME, status="running")


@router.get("/health", response_model=Health, responses=responses.OK, tags=["service"])
async def read_health() -> Health:
    """Liveness: 200 whenever the process is up, whatever service B's state; never calls B."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses=responses.READY, tags=["service"])
async def read_readiness(predictor: PredictorDep, draining: DrainingDep) -> Ready:
    """Readiness: 200 while at least one replica of service B answers its /ready with 200
    and its breaker lets calls through, listing every replica with its state; 503
    otherwise, and from the start of a graceful shutdown."""
    if draining.active:
        raise ShuttingDown()
    found = await predictor.check_ready(current_request_id())
    return Ready(
        status="ready",
        service_b="ready",
        breaker=predictor.replicas.breaker_state(),
        replicas=[check.status() for check in found],
    )


@router.post(
    PROCESS_PATH,
    response_model=ProcessResponse,
    responses=responses.PROCESS,
    tags=["gateway"],
)
async def process_input(
    caller: CallerDep, body: ProcessRequest, processor: ProcessorDep
) -> Response:
    """Log the input; unless `forward_to_model` is false, return service B's prediction too."""
    try:
        answer = await processor.process(body, current_request_id(), caller)
    except PredictorUnavailable as unavailable:
        # The answer while B is down or the breaker is open, as cheap as a logged-only one:
        # made here rather than by raising through the framework's exception handling.
        return error_response(unavailable)
    headers = {SERVED_BY: answer.served_by} if answer.served_by else None
    return Response(answer.body, media_type="application/json", headers=headers)
