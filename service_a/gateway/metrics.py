"""The gateway's own Prometheus metrics: inputs logged, and calls to the predictor by
outcome with their duration (the HTTP metrics of every route are common to both services)."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from service_common.metrics import LATENCY_BUCKETS

CALL_OUTCOMES = (
    "ok",
    "unavailable",
    "timeout",
    "bad_response",
    "breaker_open",
    "shed",
    "model_version_not_found",
    "model_version_refused",
)
"""How a call to the predictor ended: `PredictorError.outcome` of the error it raised."""
RETRIED = "retried"
"""Counted once more for a call retried (on another replica, or on a new connection),
whatever its outcome then."""


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        inputs = Counter(
            "gateway_inputs_logged",
            "Inputs accepted and logged by POST /process, by whether they were forwarded.",
            ["forward_to_model"],
            registry=registry,
        )
        calls = Counter(
            "gateway_predictor_calls",
            "Calls to the predictor by outcome; `retried` counts the calls retried once.",
            ["outcome"],
            registry=registry,
        )
        duration = Histogram(
            "gateway_predictor_call_duration_seconds",
            "Time a call to the predictor took, from the gateway's side, by outcome.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # Every label value is known: each child is made once, here, and the per-call
        # work is an increment and an observation.
        self._inputs = {True: inputs.labels("true"), False: inputs.labels("false")}
        self._calls: dict[str, tuple[Any, Any]] = {
            outcome: (calls.labels(outcome), duration.labels(outcome)) for outcome in CALL_OUTCOMES
        }
        self._retried = calls.labels(RETRIED)
        self._rate_limit_storage_errors = Counter(
            "gateway_rate_limit_storage_errors",
            "Requests let through unlimited because the rate-limit storage failed or was slow.",
            registry=registry,
        )

    def input_logged(self, forward_to_model: bool) -> None:
        self._inputs[forward_to_model].inc()

    def predictor_call(self, outcome: str, seconds: float) -> None:
        count, duration = self._calls[outcome]
        count.inc()
        duration.observe(seconds)

    def call_retried(self) -> None:
        self._retried.inc()

    def rate_limit_storage_error(self) -> None:
        self._rate_limit_storage_errors.inc()
