"""HTTP routes: thin handlers over the predictor client."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from gateway.errors import (
    PredictorBadResponse,
    PredictorNotReady,
    PredictorTimeout,
    PredictorUnavailable,
)
from gateway.logging_setup import current_request_id
from gateway.predictor_client import PredictorClient
from gateway.processing import InputProcessor
from gateway.schemas import (
    LOGGED_STATUS,
    PREDICTION_EXAMPLE,
    ErrorMessage,
    Health,
    ProcessRequest,
    ProcessResponse,
    Ready,
    ServiceInfo,
    ValidationErrorBody,
)

SERVICE_NAME = "service_a"

router = APIRouter()


async def get_predictor(request: Request) -> PredictorClient:
    return request.state.predictor


async def get_processor(request: Request) -> InputProcessor:
    return request.state.processor


PredictorDep = Annotated[PredictorClient, Depends(get_predictor)]
ProcessorDep = Annotated[InputProcessor, Depends(get_processor)]


# OpenAPI documentation of the answers: every status each route can return, with examples.
REQUEST_ID_HEADER_DOC = {
    "X-Request-ID": {
        "description": "The client's X-Request-ID if it is a sane token, else a generated id; "
        "also sent to service B and printed in the request's log lines.",
        "schema": {"type": "string"},
    }
}
RETRY_AFTER_HEADER_DOC = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (SERVICE_B_RETRY_AFTER).",
        "schema": {"type": "integer"},
    }
}


def error_doc(
    description: str, detail: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "model": ErrorMessage,
        "description": description,
        "content": {"application/json": {"example": {"detail": detail}}},
        "headers": REQUEST_ID_HEADER_DOC | (headers or {}),
    }


OK_DOC: dict[int | str, dict[str, Any]] = {200: {"headers": REQUEST_ID_HEADER_DOC}}
PROCESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The input was logged (and classified, when forwarded).",
        "headers": REQUEST_ID_HEADER_DOC,
        "content": {
            "application/json": {
                "examples": {
                    "forwarded": {
                        "summary": "forward_to_model true: the predictor's answer as it sent it",
                        "value": {"status": LOGGED_STATUS, "model_prediction": PREDICTION_EXAMPLE},
                    },
                    "logged_only": {
                        "summary": "forward_to_model false",
                        "value": {"status": LOGGED_STATUS},
                    },
                }
            }
        },
    },
    413: error_doc("The request body is larger than MAX_BODY_BYTES.", "Request body too large"),
    422: {
        "model": ValidationErrorBody,
        "description": "Invalid body: not JSON, `data` missing or not a string, "
        "`forward_to_model` not a boolean, `data` longer than MAX_DATA_CHARS, "
        "or blank while forwarding. Nothing is forwarded.",
        "headers": REQUEST_ID_HEADER_DOC,
        "content": {
            "application/json": {
                "example": {
                    "detail": [
                        {
                            "type": "string_too_long",
                            "loc": ["body", "data"],
                            "msg": "String should have at most 10000 characters",
                            "ctx": {"max_length": 10000},
                        }
                    ]
                }
            }
        },
    },
    500: error_doc(
        "Unexpected error in the gateway (the cause is in its log).", "Internal server error"
    ),
    502: error_doc(
        "Service B answered an error status, non-JSON, or JSON that is not a prediction.",
        PredictorBadResponse.detail,
    ),
    503: error_doc(
        "Service B cannot be reached (connection refused, DNS failure, connect timeout), "
        "or it answered 503 itself.",
        PredictorUnavailable.detail,
        RETRY_AFTER_HEADER_DOC,
    ),
    504: error_doc(
        "Service B did not answer within SERVICE_B_READ_TIMEOUT.", PredictorTimeout.detail
    ),
}
PROCESS_OPENAPI_EXTRA = {
    "parameters": [
        {
            "name": "X-Request-ID",
            "in": "header",
            "required": False,
            "description": "Optional request id (letters, digits, `._:-`, at most 64); "
            "one is generated when it is missing or not such a token.",
            "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
        }
    ]
}


@router.get("/", response_model=ServiceInfo, responses=OK_DOC, tags=["service"])
async def read_service_info() -> dict[str, str]:
    """Service name and status."""
    return {"service": SERVICE_NAME, "status": "running"}


@router.get("/health", response_model=Health, responses=OK_DOC, tags=["service"])
async def read_health() -> dict[str, str]:
    """Liveness: 200 whenever the process is up, whatever service B's state; never calls B."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Ready,
    responses=OK_DOC
    | {
        503: error_doc(
            "Service B's /ready did not answer 200 (unreachable, slow or not ready).",
            PredictorNotReady.detail,
            RETRY_AFTER_HEADER_DOC,
        )
    },
    tags=["service"],
)
async def read_readiness(predictor: PredictorDep) -> dict[str, str]:
    """Readiness: 200 when service B's /ready answers 200, else 503."""
    await predictor.check_ready(current_request_id())
    return {"status": "ready", "service_b": "ready"}


@router.post(
    "/process",
    response_model=ProcessResponse,
    responses=PROCESS_RESPONSES,
    openapi_extra=PROCESS_OPENAPI_EXTRA,
    tags=["gateway"],
)
async def process_input(body: ProcessRequest, processor: ProcessorDep) -> Response:
    """Log the input; unless `forward_to_model` is false, return service B's prediction too."""
    answer = await processor.process(body, current_request_id())
    return Response(answer, media_type="application/json")
