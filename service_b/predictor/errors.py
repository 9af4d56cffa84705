"""Domain errors, and the one place that turns them into HTTP responses."""

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

logger = logging.getLogger(__name__)


class PredictorError(Exception):
    """Base of the errors a client can see: each carries its status and public detail."""

    status_code = 500
    detail = "Internal error"


class ModelNotReady(PredictorError):
    status_code = 503
    detail = "Model is not loaded yet"


class PredictionFailed(PredictorError):
    status_code = 500
    detail = "Prediction failed"


class InputRejected(PredictorError):
    """A request body that passed the schema but breaks a configured rule."""

    status_code = 422

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


class ModelLoadError(Exception):
    """A model version cannot be served: missing, tampered with, or unreadable."""


class NoModelVersion(ModelLoadError):
    """The model folder holds no version yet."""


NOT_A_JSON_OBJECT = (
    'Body must be a JSON object such as {"input": "my cat purrs"}, '
    "sent with Content-Type: application/json"
)

NOT_UTF8_JSON = "Body is not UTF-8 encoded JSON"


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(InputRejected, _input_rejected)
    app.add_exception_handler(PredictorError, _predictor_error)


async def _request_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's format, minus echoed input (it can be 1 MB), and with a hint when the
    # body is not a JSON object at all: the usual cause is a missing Content-Type.
    details = []
    for item in error.errors():
        detail = {key: item[key] for key in ("type", "loc", "msg") if key in item}
        if tuple(item.get("loc", ())) == ("body",) and item.get("type") == "model_attributes_type":
            detail["msg"] = NOT_A_JSON_OBJECT
        details.append(detail)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(details)})


async def _http_error(request: Request, error: HTTPException) -> Response:
    # FastAPI answers 400 for a JSON body that is not UTF-8; it is invalid JSON like any other.
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        body = {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": NOT_UTF8_JSON}]}
        return JSONResponse(status_code=422, content=body)
    return await http_exception_handler(request, error)


async def _input_rejected(_: Request, error: InputRejected) -> JSONResponse:
    # Same shape as FastAPI's own 422s, so clients parse one format.
    body = {"detail": [{"type": error.error_type, "loc": ["body", "input"], "msg": error.message}]}
    return JSONResponse(status_code=422, content=body)


async def _predictor_error(_: Request, error: PredictorError) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content={"detail": error.detail})
