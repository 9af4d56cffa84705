"""Prometheus metrics of both services: the registry of an app, the HTTP metrics every
route gets, `GET /metrics`, and prometheus_client's multiprocess mode for several workers.

With several uvicorn workers each is its own process with its own counters, so a scrape
answered by one worker would show that worker's share only. In multiprocess mode
(PROMETHEUS_MULTIPROC_DIR set before the workers start) every worker writes its values to
files in that folder and a scrape adds up the files of all of them. The folder is emptied
when the service starts, so a restart does not add the last run's counts to this one's.
"""

import asyncio
import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from service_common.openapi import INTERNAL_ERROR, REQUEST_ID_HEADER_DOC

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds; from the sub-millisecond answers of a warm predictor to the read timeout."""

UNMATCHED_ROUTE = "unmatched"
"""The `route` label of requests no route matched: a raw path would be a label per URL."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class HttpMetrics:
    """Requests by route template, method and status, and their duration."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # The labelled children, looked up once per label set: the label values are
        # bounded (route templates, known methods, status codes), and a plain dict lookup
        # costs less than prometheus_client's locked one on every request.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(status)),
                self._duration.labels(route, method),
            )
            self._children[key] = children
        requests, duration = children
        requests.inc()
        duration.observe(seconds)


def route_label(scope: Scope) -> str:
    """The template of the route that served the request ("/models/{version}/predict")."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def method_label(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in KNOWN_METHODS else OTHER_METHOD


class MetricsExposition:
    """What `GET /metrics` answers: this app's registry, or with PROMETHEUS_MULTIPROC_DIR
    set, the sum over the files of every worker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._multiprocess_dir = os.environ.get(MULTIPROC_DIR_ENV) or None

    def render(self) -> bytes:
        if self._multiprocess_dir is None:
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


metrics_router = APIRouter()


@metrics_router.get(
    METRICS_PATH,
    tags=["service"],
    response_class=Response,
    responses={
        200: {
            "description": "The service's metrics, in the Prometheus text format.",
            "content": {CONTENT_TYPE_LATEST: {"example": "http_requests_total{...} 42.0\n"}},
            "headers": REQUEST_ID_HEADER_DOC,
        },
        500: INTERNAL_ERROR,
    },
)
async def read_metrics(request: Request) -> Response:
    """Prometheus metrics of the whole service (every worker); see the README's list."""
    exposition: MetricsExposition = request.scope["state"]["metrics_exposition"]
    # Reading the workers' files (multiprocess mode) is file I/O: off the event loop.
    body = await asyncio.to_thread(exposition.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def prepare_multiprocess_dir(configured: str | None) -> str:
    """Turn multiprocess mode on for the workers this process starts (they inherit the
    environment): in `configured`, emptied of a former run's files, or in a fresh
    temporary folder, removed when this process exits. Returns the folder."""
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="prometheus-multiproc-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[MULTIPROC_DIR_ENV] = str(folder)
    return str(folder)


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (queue depth, model info) from the sums. Its
    counters stay: the requests it answered were answered."""
    folder = os.environ.get(MULTIPROC_DIR_ENV)
    if folder:
        multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
