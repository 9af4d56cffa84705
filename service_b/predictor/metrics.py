"""The predictor's own Prometheus metrics: predictions by version and class, model calls,
batch sizes, the queue, the served version and training jobs (the HTTP metrics of every
route are common to both services)."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_common.metrics import LATENCY_BUCKETS

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
TRAINING_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Seconds; up to TRAIN_TIMEOUT_S's default and beyond."""


class PredictorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._predictions = Counter(
            "predictor_predictions",
            "Predictions answered, by the model version that scored them and the class.",
            ["model_version", "class"],
            registry=registry,
        )
        self._model_call = Histogram(
            "predictor_model_call_duration_seconds",
            "Time of one call of the model on a batch of texts, on the model thread.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._batch_size = Histogram(
            "predictor_batch_size",
            "Texts scored together in one model call.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        # Gauges of several workers add up (the texts waiting in each) or take the
        # highest value (1 for the version a live worker serves).
        self._queue_depth = Gauge(
            "predictor_queue_depth",
            "Texts waiting for the model (queued for the next batch, or for the model thread).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._model_info = Gauge(
            "predictor_model_info",
            "1 for the model version being served, 0 for a version served before.",
            ["model_version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._training_jobs = Counter(
            "predictor_training_jobs",
            "Training jobs entering each status: queued, running, succeeded, failed.",
            ["status"],
            registry=registry,
        )
        self._training_duration = Histogram(
            "predictor_training_duration_seconds",
            "Time a training process ran, whether it succeeded or failed.",
            buckets=TRAINING_BUCKETS,
            registry=registry,
        )
        self._served: str | None = None
        self._prediction_children: dict[tuple[str, str], Any] = {}

    def prediction(self, version: str, label: str) -> None:
        key = (version, label)
        child = self._prediction_children.get(key)
        if child is None:
            child = self._predictions.labels(version, label)
            self._prediction_children[key] = child
        child.inc()

    def model_called(self, batch_size: int, seconds: float) -> None:
        self._batch_size.observe(batch_size)
        self._model_call.observe(seconds)

    def queued(self, count: int) -> None:
        """`count` texts joined (positive) or left (negative) the wait for the model."""
        self._queue_depth.inc(count)

    def serving(self, version: str | None) -> None:
        """The served version changed to `version` (None: no model)."""
        if self._served is not None and self._served != version:
            self._model_info.labels(self._served).set(0)
        if version is not None:
            self._model_info.labels(version).set(1)
        self._served = version

    def training_job(self, status: str) -> None:
        self._training_jobs.labels(status).inc()

    def training_ran(self, seconds: float) -> None:
        self._training_duration.observe(seconds)
