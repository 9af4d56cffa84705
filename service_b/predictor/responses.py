"""OpenAPI documentation of the predictor's answers: every status each route can return,
with an example body."""

from predictor.errors import ModelNotReady, PredictionFailed
from service_common.errors import INTERNAL_ERROR_DETAIL, ShuttingDown
from service_common.openapi import (
    PAYLOAD_TOO_LARGE,
    ResponseDocs,
    error_doc,
    ok_doc,
    validation_error_doc,
)

NOT_READY = error_doc("No model is loaded yet (start-up training).", ModelNotReady.detail)

OK: ResponseDocs = {200: ok_doc()}
MODEL_REQUIRED: ResponseDocs = {200: ok_doc(), 503: NOT_READY}
READY: ResponseDocs = {
    200: ok_doc(),
    503: error_doc(
        "No model is loaded yet (start-up training), or the service is shutting down "
        f"({ShuttingDown.detail!r}).",
        ModelNotReady.detail,
    ),
}

PREDICT: ResponseDocs = {
    200: ok_doc(),
    413: PAYLOAD_TOO_LARGE,
    422: validation_error_doc(
        "Invalid body: not JSON, `input` missing or not a string, blank, or longer than "
        "MAX_INPUT_CHARS.",
        {
            "type": "string_too_long",
            "loc": ["body", "input"],
            "msg": "String should have at most 10000 characters",
            "ctx": {"max_length": 10000},
        },
    ),
    500: error_doc(
        f"The model failed on this input ({PredictionFailed.detail!r}), or another "
        f"unexpected error ({INTERNAL_ERROR_DETAIL!r}); the cause is in the log.",
        PredictionFailed.detail,
    ),
    503: NOT_READY,
}
