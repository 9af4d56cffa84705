"""OpenAPI documentation of the predictor's answers: every status each route can return,
with an example body."""

from predictor.errors import (
    AdminDisabled,
    AdminUnauthorized,
    JobNotFound,
    ModelNotReady,
    PredictionFailed,
    TrainingQueueFull,
    VersionBusy,
    VersionPinned,
)
from predictor.schemas import VERSION_PATTERN
from service_common.errors import INTERNAL_ERROR_DETAIL, ShuttingDown
from service_common.openapi import (
    INTERNAL_ERROR,
    PAYLOAD_TOO_LARGE,
    REQUEST_ID_HEADER_DOC,
    ResponseDocs,
    error_doc,
    ok_doc,
    validation_error_doc,
)

NOT_READY = error_doc("No model is loaded yet (start-up training).", ModelNotReady.detail)

OK: ResponseDocs = {200: ok_doc(), 500: INTERNAL_ERROR}
MODEL_REQUIRED: ResponseDocs = {**OK, 503: NOT_READY}
READY: ResponseDocs = {
    **OK,
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

ADMIN_DISABLED = error_doc("ADMIN_TOKEN is unset: the admin API is off.", AdminDisabled.detail)
ADMIN_UNAUTHORIZED = error_doc(
    "No `Authorization: Bearer` header, or not ADMIN_TOKEN.",
    AdminUnauthorized.detail,
    headers={"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
)
ADMIN: ResponseDocs = {401: ADMIN_UNAUTHORIZED, 403: ADMIN_DISABLED, 500: INTERNAL_ERROR}
VERSION_NOT_FOUND = error_doc(
    "The models folder has no such version.", "Model version v9 not found"
)
VERSION_REFUSED = error_doc(
    "The version does not verify (sha256, allowed types, a known text); the log says why.",
    "Model version v3 failed verification; the served version is unchanged",
)
VERSION_INVALID = validation_error_doc(
    "The version is not `v` and a number.",
    {
        "type": "string_pattern_mismatch",
        "loc": ["path", "version"],
        "msg": f"String should match pattern '{VERSION_PATTERN}'",
        "ctx": {"pattern": VERSION_PATTERN},
    },
)

VERSION_PREDICT: ResponseDocs = {
    **PREDICT,
    422: validation_error_doc(
        "Invalid body, as for /predict, or a version that is not `v` and a number below a billion.",
        VERSION_INVALID["content"]["application/json"]["example"]["detail"][0],
    ),
    404: VERSION_NOT_FOUND,
    409: VERSION_REFUSED,
    503: error_doc(
        "No model is loaded yet (start-up training), or another version is being loaded "
        f"({VersionBusy.detail!r}, with Retry-After): versions load one at a time.",
        VersionBusy.detail,
        headers={"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
    ),
}
TRAIN: ResponseDocs = {
    202: {
        "description": "Queued; `Location` is the job's URL.",
        "headers": REQUEST_ID_HEADER_DOC
        | {
            "Location": {
                "description": "The job's URL, `/train/jobs/{job_id}`.",
                "required": True,
                "schema": {"type": "string", "pattern": r"^/train/jobs/[0-9a-f]{32}$"},
            }
        },
    },
    **ADMIN,
    409: validation_error_doc(
        "A body the schema accepts that the served model or the training recipe cannot "
        "honour: a label outside the served model's classes without "
        "`params.allow_new_classes`, a feature set the recipe does not have, a "
        "`test_fraction` its data cannot be split by, or a `min_df` above the texts trained "
        "on. The body is in the shape of a 422.",
        {
            "type": "unknown_class",
            "loc": ["body", "examples", 0, "label"],
            "msg": "label 'hamster' is not one of the model's classes (bird, cat, dog, fish, "
            "rabbit); set params.allow_new_classes to add it",
        },
    ),
    413: PAYLOAD_TOO_LARGE,
    422: validation_error_doc(
        "Invalid body: an unknown or out-of-range param, more than TRAIN_MAX_EXAMPLES "
        "examples (the `maxItems`), or a text that is blank or longer than MAX_INPUT_CHARS "
        "(the `maxLength`).",
        {
            "type": "string_too_long",
            "loc": ["body", "examples", 0, "text"],
            "msg": "String should have at most 10000 characters",
            "ctx": {"max_length": 10000},
        },
    ),
    429: error_doc(
        "TRAIN_QUEUE_SIZE jobs already wait; `Retry-After` estimates when to retry.",
        TrainingQueueFull.detail,
        headers={"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
    ),
    503: NOT_READY,
}
JOB: ResponseDocs = {
    200: ok_doc(),
    **ADMIN,
    404: error_doc("No job with this id.", JobNotFound.detail),
    422: validation_error_doc(
        "The id is not 32 hexadecimal digits.",
        {
            "type": "string_pattern_mismatch",
            "loc": ["path", "job_id"],
            "msg": "String should match pattern '^[0-9a-f]{32}$'",
        },
    ),
}
ADMIN_OK: ResponseDocs = {200: ok_doc(), **ADMIN}
JOBS: ResponseDocs = {
    **ADMIN_OK,
    422: validation_error_doc(
        "`limit` is not a whole number from 1 to 1000.",
        {
            "type": "less_than_equal",
            "loc": ["query", "limit"],
            "msg": "Input should be less than or equal to 1000",
            "ctx": {"le": 1000},
        },
    ),
}
ACTIVATE: ResponseDocs = {
    200: ok_doc(),
    **ADMIN,
    404: VERSION_NOT_FOUND,
    409: error_doc(
        "The version does not verify (the served version is unchanged, the log says why), "
        f"or MODEL_VERSION pins the served version ({VersionPinned.detail!r}).",
        "Model version v3 failed verification; the served version is unchanged",
    ),
    422: VERSION_INVALID,
}
