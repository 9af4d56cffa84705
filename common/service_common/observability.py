"""The metrics registry and the tracer of an app, built once in its lifespan from settings,
and the part of the lifespan state that the metrics and tracing middleware read."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypedDict

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from service_common.metrics import HttpMetrics, MetricsExposition
from service_common.settings import ServiceSettings
from service_common.tracing import span_exporting_provider


class ObservabilityState(TypedDict):
    """Lifespan state the middleware and `GET /metrics` read; None where switched off."""

    http_metrics: HttpMetrics | None
    metrics_exposition: MetricsExposition | None
    tracer: Tracer | None


@dataclass(frozen=True)
class Observability:
    registry: CollectorRegistry | None
    """Where the service's own metrics are registered; None with METRICS_ENABLED false."""
    state: ObservabilityState


@asynccontextmanager
async def observability(
    settings: ServiceSettings, service_name: str, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[Observability]:
    """The app's registry and tracer; exported spans are flushed when it closes.

    `tracer_provider` replaces the OTLP exporter (tests pass one with an in-memory exporter).
    """
    registry = CollectorRegistry() if settings.METRICS_ENABLED else None
    provider = tracer_provider
    if provider is None and settings.OTEL_EXPORTER_OTLP_ENDPOINT is not None:
        provider = span_exporting_provider(settings.OTEL_SERVICE_NAME or service_name)
    tracer = provider.get_tracer(service_name) if provider and settings.TRACING_ENABLED else None
    try:
        yield Observability(
            registry,
            {
                "http_metrics": HttpMetrics(registry) if registry is not None else None,
                "metrics_exposition": MetricsExposition(registry) if registry else None,
                "tracer": tracer,
            },
        )
    finally:
        if provider is not None and tracer_provider is None:
            await asyncio.to_thread(provider.shutdown)  # flushes the last spans
