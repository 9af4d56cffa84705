"""App factory, lifespan (the shared client to service B) and the uvicorn entry point."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware

from gateway import __version__, routes
from gateway.config import Settings
from gateway.docs import SWAGGER_UI_PARAMETERS, DocsContentSecurityPolicyMiddleware
from gateway.errors import UnexpectedErrorMiddleware, register_error_handlers
from gateway.logging_setup import configure_logging, uvicorn_log_config
from gateway.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from gateway.predictor_client import PredictorClient, build_transport
from gateway.processing import InputProcessor

SERVICE_ROOT = Path(__file__).resolve().parent.parent
"""The service_a folder, where the top-level `main.py` (the `main:app` import string) lives."""

DESCRIPTION = """
The gateway of the two-service lab ("Input Logger"): clients talk only to it.

Every input to `POST /process` is logged (one line, with a request id, its length and an
escaped preview) and, unless `forward_to_model` is false, forwarded to service B (the
predictor), whose answer is returned unchanged under `model_prediction`.

Failures of service B come back as clean errors: **503** when it cannot be reached (with
Retry-After), **504** when it is too slow, **502** when its answer is not a prediction.
Error bodies never carry internal details; those are in the gateway's log.
"""
TAGS = [
    {"name": "gateway", "description": "Log inputs and forward them to the predictor."},
    {"name": "service", "description": "Service info, liveness and readiness."},
]


class State(TypedDict):
    """Lifespan state, copied into every request's `request.state`."""

    predictor: PredictorClient
    processor: InputProcessor


def create_app(
    settings: Settings | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Build the app; `transport` replaces the network under the client to B (tests mock it)."""
    settings = settings or Settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        # Closing the transport closes the pooled connections.
        async with transport or build_transport(settings) as network:
            predictor = PredictorClient.from_settings(network, settings)
            yield {"predictor": predictor, "processor": InputProcessor(predictor, settings)}

    # Swagger UI and ReDoc assets are served from the fastapi-offline package, not a CDN:
    # /docs and /redoc work with no internet access (see gateway.docs).
    app = FastAPIOffline(
        title="Service A: gateway",
        description=DESCRIPTION,
        version=__version__,
        openapi_tags=TAGS,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        lifespan=lifespan,
        # Outermost first: every response, even a 500 or a 413, carries the request id.
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(UnexpectedErrorMiddleware),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES),
            Middleware(DocsContentSecurityPolicyMiddleware),
        ],
    )
    app.include_router(routes.router)
    register_error_handlers(app)
    return app


def run() -> None:
    """Serve with uvicorn, configured from the environment."""
    settings = Settings()
    # Reload and several workers need an import string; a single process serves the app
    # object directly. app_dir makes "main:app" importable whatever the working directory.
    needs_import_string = settings.RELOAD or settings.WORKERS > 1
    uvicorn.run(
        "main:app" if needs_import_string else create_app(settings),
        app_dir=str(SERVICE_ROOT),
        host=settings.HOST,
        port=settings.PORT,
        reload=settings.RELOAD,
        reload_dirs=[str(SERVICE_ROOT)] if settings.RELOAD else None,
        workers=settings.WORKERS,
        log_level=settings.LOG_LEVEL,
        log_config=uvicorn_log_config(settings.LOG_LEVEL, settings.LOG_FORMAT),
        loop="uvloop",
        http="httptools",
        access_log=settings.ACCESS_LOG,
    )
