"""W3C trace context (`traceparent`) from the gateway to the predictor, the trace id of
every log line, and OpenTelemetry spans when an OTLP endpoint is configured.

Each request belongs to a trace: the client's, when it sends a valid `traceparent`, else
a new one. The trace id and this service's span id live in a context variable for the
request's log lines and for the `traceparent` the gateway sends the predictor. With no
exporter configured (OTEL_EXPORTER_OTLP_ENDPOINT unset) no OpenTelemetry object is
built: the header is parsed and written here, at the cost of a regular expression and
a random number per request. `service_common.middleware` calls `start_trace` and
`end_server_span` around each request.
"""

import random
import re
from contextvars import ContextVar
from typing import NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.types import Scope

TRACEPARENT_HEADER = b"traceparent"
# Version 00: 32 hex digits of trace id, 16 of parent span id, 2 of flags, lower case.
# An all-zero trace or span id is invalid (W3C Trace Context, section 3.2.2).
_TRACEPARENT = re.compile(rb"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})")
SAMPLED = 0x01
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16


class TraceContext(NamedTuple):
    """The trace a request belongs to, and this service's span in it."""

    trace_id: str
    span_id: str
    flags: int = SAMPLED

    def traceparent(self) -> bytes:
        """The header that makes the next service's span a child of this one."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}".encode("ascii")


trace_context_var: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)
"""The trace of the request being served; None outside requests (or with tracing off)."""


def current_trace_id() -> str:
    context = trace_context_var.get()
    return context.trace_id if context is not None else "-"


def current_traceparent() -> list[tuple[bytes, bytes]]:
    """The `traceparent` header for a call made while serving this request (none outside)."""
    context = trace_context_var.get()
    return [] if context is None else [(TRACEPARENT_HEADER, context.traceparent())]


def parse_traceparent(value: bytes) -> tuple[str, str, int] | None:
    """(trace id, parent span id, flags) of a `traceparent` header value, if it is valid."""
    value = value.strip()
    if _TRACEPARENT.fullmatch(value) is None:
        return None
    text = value.decode("ascii")
    return text[3:35], text[36:52], int(text[53:55], 16)


def span_exporting_provider(service_name: str) -> TracerProvider:
    """A provider that batches spans to the OTLP/HTTP exporter, which reads the standard
    OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def new_trace_id() -> str:
    # Python's Mersenne Twister, as OpenTelemetry's own id generator uses: ids must be
    # unique, not secret, and os.urandom is a system call per id. The random module
    # reseeds in a forked worker, so workers do not repeat each other's ids.
    trace_id = random.randbytes(16).hex()  # nosec B311 # unique, not secret: see above
    return trace_id if trace_id != _INVALID_TRACE_ID else new_trace_id()


def new_span_id() -> str:
    span_id = random.randbytes(8).hex()  # nosec B311 # unique, not secret, as trace ids
    return span_id if span_id != _INVALID_SPAN_ID else new_span_id()


def start_trace(
    traceparent: bytes | None, scope: Scope, tracer: trace.Tracer | None
) -> tuple[TraceContext, trace.Span | None]:
    """The request's place in its trace (see the module docstring), from the value of its
    `traceparent` header, and, with a tracer, its OpenTelemetry server span, named after
    the path until routing knows the route."""
    parent = None if traceparent is None else parse_traceparent(traceparent)
    if tracer is None:
        if parent is None:
            return TraceContext(new_trace_id(), new_span_id()), None
        return TraceContext(parent[0], new_span_id(), parent[2]), None
    parent_context = otel_context.Context()
    if parent is not None:
        remote = trace.SpanContext(
            int(parent[0], 16),
            int(parent[1], 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(parent[2]),
        )
        parent_context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    span = tracer.start_span(
        f"{scope['method']} {scope['path']}", context=parent_context, kind=trace.SpanKind.SERVER
    )
    span_context = span.get_span_context()
    context = TraceContext(
        trace.format_trace_id(span_context.trace_id),
        trace.format_span_id(span_context.span_id),
        int(span_context.trace_flags),
    )
    return context, span


def end_server_span(span: trace.Span, method: str, route: str, status: int) -> None:
    # Named after the route template: bounded, like the metrics' labels.
    span.update_name(f"{method} {route}")
    span.set_attribute("http.request.method", method)
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)
    span.end()
