"""App factory, lifespan (the shared client to service B) and the uvicorn entry point."""

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from gateway import __version__
from gateway.admission import Admission, warn_if_open
from gateway.api_keys import ApiKeys, document_api_keys
from gateway.config import Settings
from gateway.dependencies import State
from gateway.discovery import Discovery, Resolver, resolve_addresses
from gateway.metrics import GatewayMetrics
from gateway.predictor_client import PredictorClient, Resilience
from gateway.processing import InputProcessor
from gateway.rate_limit import open_rate_limiter, refuse_unusable_redis
from gateway.recovery import watch_for_recovery
from gateway.replicas import ReplicaSet
from gateway.routes import PROCESS_PATH, SERVICE_NAME, router
from gateway.transport import build_transport
from service_common.app import create_service_app
from service_common.draining import Draining
from service_common.observability import observability
from service_common.server import ServiceEntry
from service_common.settings import load_settings

DEFAULT_PORTS = {"http": 80, "https": 443}

SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""The service_a folder, where the top-level `main.py` (the `main:app` import string) lives."""

LOGGERS = ("gateway",)
BODY_EXAMPLE = '{"data": "cat image data", "forward_to_model": true}'

DESCRIPTION = """
The gateway of the two-service lab ("Input Logger"): clients talk only to it.

Every input to `POST /process` is logged (one line, with a request id, its length and an
escaped preview) and, unless `forward_to_model` is false, forwarded to service B (the
predictor), whose answer is returned unchanged under `model_prediction`.

Failures of service B come back as clean errors: **503** when it cannot be reached (with
Retry-After), **504** when it is too slow, **502** when its answer is not a prediction.
Error bodies never carry internal details; those are in the gateway's log.

With API keys configured (API_KEYS), `POST /process` needs one (**Authorize** above):
**401** without it. With a rate limit (RATE_LIMIT), **429** with Retry-After past it.
"""
TAGS = [
    {"name": "gateway", "description": "Log inputs and forward them to the predictor."},
    {"name": "service", "description": "Service info, liveness and readiness."},
]


def create_app(
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    served: bool = False,
    tracer_provider: TracerProvider | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    """Build the app; `transport` replaces the network under the client to B (tests mock it);
    `served`: the one app of a server process (see create_service_app); `tracer_provider`
    replaces the OTLP exporter of spans (tests pass an in-memory one); `resolver` replaces
    the resolution of B's host to its replicas' addresses."""
    settings = settings or load_settings(Settings)
    api_keys = ApiKeys(settings.api_keys) if settings.api_keys else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        # Closing the transports closes their connections.
        async with AsyncExitStack() as stack:
            telemetry = await stack.enter_async_context(
                observability(settings, SERVICE_NAME, tracer_provider)
            )
            metrics = GatewayMetrics(telemetry.registry) if telemetry.registry else None
            warn_if_open(api_keys)
            rate_limiter = await stack.enter_async_context(open_rate_limiter(settings, metrics))
            if transport is not None:
                # A test's fake: one transport for both (it has no connections to reuse).
                pooled = fresh = await stack.enter_async_context(transport)
            else:
                pooled = await stack.enter_async_context(build_transport(settings))
                fresh = await stack.enter_async_context(
                    build_transport(settings, fresh_connections=True)
                )
            resilience = Resilience.from_settings(settings)
            base_url = httpx.URL(settings.predictor_base_url)
            replicas = ReplicaSet(base_url, resilience.new_breaker)
            discovery = Discovery(
                replicas,
                base_url.host,
                base_url.port or DEFAULT_PORTS[base_url.scheme],
                settings.SERVICE_B_CONNECT_TIMEOUT,
                resolver or resolve_addresses,
            )
            # A test's fake transport answers for the configured host itself.
            if discovery.needed and (transport is None or resolver is not None):
                await discovery.refresh()
                start_task(
                    stack,
                    discovery.run(settings.SERVICE_B_RESOLVE_S, settings.BREAKER_READY_CHECK_S),
                    "predictor-discovery",
                )
            predictor = await stack.enter_async_context(
                PredictorClient(pooled, fresh, resilience, replicas, settings, metrics)
            )
            if settings.BREAKER_ENABLED:
                start_task(
                    stack,
                    watch_for_recovery(predictor, settings.BREAKER_READY_CHECK_S),
                    "breaker-recovery",
                )
            yield {
                "predictor": predictor,
                "processor": InputProcessor(predictor, settings, metrics),
                "draining": Draining(),
                "admission": Admission(api_keys, rate_limiter),
                **telemetry.state,
            }

    app = create_service_app(
        title="Service A: gateway",
        description=DESCRIPTION,
        version=__version__,
        tags=TAGS,
        router=router,
        lifespan=lifespan,
        max_body_bytes=settings.MAX_BODY_BYTES,
        body_examples={PROCESS_PATH: BODY_EXAMPLE},
        schema_limits={"ProcessRequest": {"data": {"maxLength": settings.MAX_DATA_CHARS}}},
        freeze_gc_after_startup=served,
        metrics_enabled=settings.METRICS_ENABLED,
        tracing_enabled=settings.TRACING_ENABLED,
    )
    if api_keys is not None:
        document_api_keys(app, PROCESS_PATH)
    return app


def start_task(stack: AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    """Run `work` in the background until the lifespan ends."""
    task = asyncio.create_task(work, name=name)
    stack.callback(task.cancel)


def checked_app(settings: Settings) -> FastAPI:
    """The app with the rate limit's Redis checked here, before the server starts: a
    StartupError (one line) instead of a traceback from the lifespan."""
    refuse_unusable_redis(settings)
    return create_app(settings, served=True)


def create_served_app() -> FastAPI:
    """The app a server process serves: settings from the environment (each worker's)."""
    return create_app(served=True)


ENTRY = ServiceEntry(
    settings_class=Settings,
    build_app=lambda settings, _: checked_app(settings),
    prepare_workers=refuse_unusable_redis,
    factory="gateway.main:create_served_app",
    service_root=SERVICE_ROOT,
    loggers=LOGGERS,
)
"""`python main.py` runs `ENTRY.run()`; `uvicorn main:app` imports `ENTRY.imported_app()`."""
