"""The FastAPI app every service is built on: offline API docs, the standard middleware and
the error handlers, and typed access to the lifespan state.

`fastapi_offline.FastAPIOffline` serves the Swagger UI (/docs) and ReDoc (/redoc) assets
from the pinned fastapi-offline package under /static-offline-docs instead of a CDN, so
the docs work with no internet access. Two images would still be fetched from the
internet; both are stopped: Swagger UI's validator badge (validator.swagger.io, shown
when the page is not opened on localhost) by `validatorUrl: null`, and ReDoc's Redocly
logo by the docs pages' Content-Security-Policy (see `service_common.middleware`).
"""

import gc
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware

from service_common.errors import register_error_handlers
from service_common.metrics import metrics_router
from service_common.middleware import standard_middleware
from service_common.openapi import SchemaLimits, complete_openapi
from service_common.served_by import ServedByMiddleware

SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

StateT = TypeVar("StateT")


def complete_openapi_once_generated(app: FastAPI, limits: SchemaLimits) -> None:
    """Make `app.openapi()` complete its document (`complete_openapi`) each time FastAPI
    generates it (once, unless routes change)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema
        document = generate()
        if document is not cached:
            complete_openapi(document, limits)
        return document

    # FastAPI's documented way to extend its document ("Extending OpenAPI").
    app.openapi = openapi  # type: ignore[method-assign]


def create_service_app(
    *,
    title: str,
    description: str,
    version: str,
    tags: list[dict[str, Any]],
    router: APIRouter,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
    max_body_bytes: int,
    body_examples: Mapping[str, str],
    freeze_gc_after_startup: bool = False,
    metrics_enabled: bool = False,
    tracing_enabled: bool = False,
    schema_limits: SchemaLimits | None = None,
    served_by: str | None = None,
) -> FastAPI:
    """A service's app: its routes and lifespan, with what every service has around them.

    `body_examples` holds a valid body per route path (the first: the main route's, for
    any other route with a body), quoted in the 422 answered to a body that is not a JSON
    object. `freeze_gc_after_startup` is for a process that serves
    one app for its whole life (not for tests, which build many). `metrics_enabled` adds
    `GET /metrics` and the HTTP metrics, `tracing_enabled` the trace context; both read
    what the lifespan yields (`service_common.observability.ObservabilityState`).
    `schema_limits` puts the limits that settings decide into the OpenAPI document.
    `served_by` names the replica on every response (`X-Served-By`).
    """

    @asynccontextmanager
    async def lifespan_then_freeze(app: FastAPI) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            if freeze_gc_after_startup:
                # What start-up made (modules, the app, the model) lives as long as the
                # process: kept out of the garbage collector's scans, its full collections
                # stay short (they took tens of milliseconds, a visible share of a p99).
                gc.collect()
                gc.freeze()
            yield state

    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        openapi_tags=tags,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        lifespan=lifespan_then_freeze,
        # The services build their own spans and metrics (service_common.observability);
        # FastAPI's own instrumentation would add a second span per request whenever a
        # global OpenTelemetry provider is set, and it checks for one on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
        middleware=[
            *([Middleware(ServedByMiddleware, name=served_by)] if served_by else []),
            *standard_middleware(
                max_body_bytes, metrics_enabled=metrics_enabled, tracing_enabled=tracing_enabled
            ),
        ],
    )
    app.include_router(router)
    if metrics_enabled:
        app.include_router(metrics_router)
    register_error_handlers(app, body_examples)
    complete_openapi_once_generated(app, schema_limits or {})
    return app


def lifespan_state(request: Request, state_type: type[StateT]) -> StateT:
    """What the lifespan yielded (a TypedDict), as Starlette copies it into each request."""
    return cast(StateT, request.scope["state"])
