"""Serving a service with uvicorn (uvloop, and httptools with connection limits), configured
from its settings:
`ServiceEntry` is how each service starts, whether by `python main.py` or imported by an
ASGI server."""

import logging.config
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Generic, NoReturn, Protocol

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import ChangeReload, Multiprocess

from service_common.bounded_http import (
    BoundedConfig,
    ConnectionLimits,
    FileLimitTooLow,
    ensure_fd_budget,
)
from service_common.errors import StartupError
from service_common.logging_setup import configure_logging, logging_config
from service_common.metrics import mark_worker_dead, prepare_multiprocess_dir
from service_common.settings import ServiceSettings, SettingsT, load_settings

COMMON_ROOT = Path(__file__).resolve().parent


class Stopper(Protocol):
    def stop(self, exit_code: int) -> None:
        """Stop serving; the process then exits with `exit_code`."""


class GracefulServer(uvicorn.Server):
    """uvicorn's Server, but a SIGTERM or SIGINT that shut it down gracefully leaves the
    process to exit with the server's status (0), instead of dying of the signal again
    (uvicorn re-raises it once it has shut down)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


class GracefulMultiprocess(Multiprocess):
    """uvicorn's supervisor of several workers, which closes its copy of the listening
    socket before it stops the workers: else the kernel goes on completing connections
    that no worker will accept, and resets them when the last copy closes."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's replacement of dead workers; a dead worker's live gauges are dropped
        from the metrics, as prometheus_client's multiprocess mode asks."""
        workers = list(self.processes)
        super().keep_subprocess_alive()
        for worker in workers:
            if worker not in self.processes and worker.pid is not None:
                mark_worker_dead(worker.pid)


class ServerStopper:
    """Stops the server of this process with an exit code: how a background task of the app
    reports a fatal error (the predictor's failed start-up training, say)."""

    def __init__(self) -> None:
        self.exit_code = 0
        self._server: uvicorn.Server | None = None

    def attach(self, server: uvicorn.Server) -> None:
        self._server = server

    def stop(self, exit_code: int) -> None:
        self.exit_code = exit_code
        if self._server is not None:
            self._server.should_exit = True
        else:  # a server this module did not start (the uvicorn command line, a worker)
            signal.raise_signal(signal.SIGTERM)


def serve(
    settings: ServiceSettings,
    *,
    build_app: Callable[[ServerStopper], Any],
    factory: str,
    service_root: Path,
    service_loggers: Sequence[str],
) -> NoReturn:
    """Serve until stopped, then exit with the server's status.

    One process serves the app `build_app` makes here. Reload and several workers need
    an import string instead: `factory` ("package.module:function") builds the app in each
    worker, from the environment. These are the branches of `uvicorn.run`, with the
    bounded connection protocol and its limits in the Config every worker gets.
    """
    log_config = logging_config(settings.LOG_LEVEL, settings.LOG_FORMAT, service_loggers)
    logging.config.dictConfig(log_config)  # for what happens before uvicorn applies it
    # Lowering one's own priority needs no privilege; workers and children inherit it.
    os.nice(settings.NICE)
    several_workers = settings.WORKERS > 1 and not settings.RELOAD
    if settings.METRICS_ENABLED and (several_workers or settings.PROMETHEUS_MULTIPROC_DIR):
        try:
            prepare_multiprocess_dir(settings.PROMETHEUS_MULTIPROC_DIR)
        except OSError as error:
            raise StartupError(
                f"Invalid setting PROMETHEUS_MULTIPROC_DIR: cannot prepare it: {error}"
            ) from None
    limits = connection_limits(settings)
    try:
        ensure_fd_budget(limits)  # before binding; workers inherit the raised limit
    except FileLimitTooLow as error:
        raise StartupError(str(error)) from None
    options: dict[str, Any] = {
        "limits": limits,
        "host": settings.HOST,
        "port": settings.PORT,
        "log_level": settings.LOG_LEVEL,
        "log_config": log_config,
        "access_log": settings.ACCESS_LOG,
        "timeout_graceful_shutdown": settings.SHUTDOWN_GRACE_S,
        "loop": "uvloop",
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local process
        # could then pose as any client. Only the proxies named in the settings are.
        "proxy_headers": settings.FORWARDED_ALLOW_IPS is not None,
        "forwarded_allow_ips": settings.FORWARDED_ALLOW_IPS,
    }
    if settings.RELOAD or settings.WORKERS > 1:
        sys.path.insert(0, str(service_root))
        config = BoundedConfig(
            factory,
            factory=True,
            reload=settings.RELOAD,
            reload_dirs=[str(service_root), str(COMMON_ROOT)] if settings.RELOAD else None,
            workers=settings.WORKERS,
            **options,
        )
        sockets = [config.bind_socket()]
        if config.should_reload:
            ChangeReload(config, target=uvicorn.Server(config).run, sockets=sockets).run()
        else:
            GracefulMultiprocess(config, sockets=sockets).run()
        sys.exit(0)
    stopper = ServerStopper()
    server = GracefulServer(BoundedConfig(build_app(stopper), **options))
    stopper.attach(server)
    server.run()
    sys.exit(stopper.exit_code if server.started else STARTUP_FAILURE)


def connection_limits(settings: ServiceSettings) -> ConnectionLimits:
    return ConnectionLimits(
        max_header_bytes=settings.MAX_HEADER_BYTES,
        header_timeout_s=settings.HEADER_TIMEOUT_S,
        keepalive_timeout_s=settings.KEEPALIVE_TIMEOUT_S,
        max_connections=settings.MAX_CONNECTIONS,
    )


@dataclass(frozen=True)
class ServiceEntry(Generic[SettingsT]):
    """How a service starts: its settings class, how its app is built, where it lives."""

    settings_class: type[SettingsT]
    build_app: Callable[[SettingsT, ServerStopper | None], FastAPI]
    """The app for these settings; the stopper is None when a server of ours does not run it."""
    factory: str
    """`package.module:function` that builds the app from the environment in each worker."""
    service_root: Path
    """The service's folder, which holds its top-level `main.py`."""
    loggers: tuple[str, ...]
    """The service's own logger names, configured like uvicorn's."""
    prepare_workers: Callable[[SettingsT], None] | None = None
    """Checks (and work) to do once, in the parent, before several workers start."""

    def run(self) -> NoReturn:
        """`python main.py`: refuse bad settings and start-up problems in one line each,
        exiting non-zero; else serve until stopped."""
        settings = load_settings(self.settings_class)
        try:
            if self.prepare_workers and (settings.WORKERS > 1 or settings.RELOAD):
                configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, self.loggers)
                self.prepare_workers(settings)
            serve(
                settings,
                build_app=lambda stopper: self.build_app(settings, stopper),
                factory=self.factory,
                service_root=self.service_root,
                service_loggers=self.loggers,
            )
        except StartupError as error:
            raise SystemExit(str(error)) from None

    def imported_app(self) -> FastAPI:
        """The app for an ASGI server that imports it (`uvicorn main:app`), logging as `run()`."""
        settings = load_settings(self.settings_class)
        configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, self.loggers)
        try:
            return self.build_app(settings, None)
        except StartupError as error:
            raise SystemExit(str(error)) from None
