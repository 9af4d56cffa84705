"""OpenAPI documentation of the gateway's answers: every status each route can return,
with an example body."""

from gateway.errors import (
    PredictorBadResponse,
    PredictorNotReady,
    PredictorTimeout,
    PredictorUnavailable,
    RateLimited,
    Unauthenticated,
)
from gateway.schemas import LOGGED_STATUS, PREDICTION_EXAMPLE, NotReadyMessage
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

RETRY_AFTER_HEADER_DOC = {
    "Retry-After": {
        "description": "Seconds to wait before retrying: SERVICE_B_RETRY_AFTER, or, while "
        "the circuit breaker is open, the seconds until its next probe.",
        "schema": {"type": "integer"},
    }
}

OK: ResponseDocs = {200: ok_doc(), 500: INTERNAL_ERROR}

READY: ResponseDocs = {
    200: ok_doc(),
    500: INTERNAL_ERROR,
    503: error_doc(
        "Service B's /ready did not answer 200 (unreachable, slow or not ready), the circuit "
        "breaker is open (the body then has `breaker`), or the gateway is shutting down "
        f"({ShuttingDown.detail!r}).",
        PredictorNotReady.detail,
        RETRY_AFTER_HEADER_DOC,
        model=NotReadyMessage,
        example={"detail": PredictorNotReady.detail, "breaker": "open"},
    ),
}

PROCESS: ResponseDocs = {
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
    401: error_doc(
        "Only when API_KEYS or API_KEYS_FILE is set: no key was sent as "
        "`Authorization: Bearer <key>` or `X-API-Key: <key>`, or it is not one of them.",
        Unauthenticated.detail,
        {
            "WWW-Authenticate": {
                "description": "`Bearer`: send an API key.",
                "schema": {"type": "string"},
            }
        },
    ),
    413: PAYLOAD_TOO_LARGE,
    429: error_doc(
        "Only when RATE_LIMIT is set: the caller's API key (its address, without keys) is "
        "over the limit. Nothing is logged or forwarded.",
        RateLimited.detail,
        {
            "Retry-After": {
                "description": "Seconds until the limit lets a request through again.",
                "schema": {"type": "integer"},
            },
            "RateLimit-Policy": {
                "description": "Each limit of RATE_LIMIT (IETF httpapi RateLimit draft): "
                'its quota `q` and window `w` in seconds, e.g. `"100 per 1 second";q=100;w=1`.',
                "schema": {"type": "string"},
            },
            "RateLimit": {
                "description": "The limit that was hit: requests remaining `r` and seconds "
                'until it lets more through `t`, e.g. `"100 per 1 second";r=0;t=1`.',
                "schema": {"type": "string"},
            },
        },
    ),
    422: validation_error_doc(
        "Invalid body: not JSON, `data` missing or not a string, "
        "`forward_to_model` not a boolean, `model_version` not `v` and a number, "
        "`data` longer than MAX_DATA_CHARS, "
        "or blank while forwarding. Nothing is forwarded.",
        {
            "type": "string_too_long",
            "loc": ["body", "data"],
            "msg": "String should have at most 10000 characters",
            "ctx": {"max_length": 10000},
        },
    ),
    404: error_doc(
        "`model_version` names a version service B does not have.",
        "Model version v9 not found on service B",
    ),
    409: error_doc(
        "`model_version` names a version service B refuses to serve (it fails verification).",
        "Model version v3 cannot be served by service B",
    ),
    500: error_doc(
        "Unexpected error in the gateway (the cause is in its log).", INTERNAL_ERROR_DETAIL
    ),
    502: error_doc(
        "Service B answered an error status, non-JSON, or JSON that is not a prediction.",
        PredictorBadResponse.detail,
    ),
    503: error_doc(
        "Service B cannot be reached (connection refused, DNS failure, connect timeout, reset "
        "before answering, also after one retry), it answered 503 itself, the circuit breaker "
        "is open (answered at once; Retry-After is the time to the next probe), or every "
        "call slot stayed busy for SERVICE_B_QUEUE_TIMEOUT.",
        PredictorUnavailable.detail,
        RETRY_AFTER_HEADER_DOC,
    ),
    504: error_doc(
        "Service B did not answer within SERVICE_B_READ_TIMEOUT.", PredictorTimeout.detail
    ),
}
