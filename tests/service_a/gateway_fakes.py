"""Helpers of the gateway's tests: settings, an in-process client, real loopback servers."""

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from logging import StreamHandler
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from gateway.config import Settings

PREDICTOR_BASE_URL = "http://predictor.test"
GATEWAY_BASE_URL = "http://gateway.test"
PREDICTION = {
    "prediction": {"class": "dog", "confidence": 0.92, "input_length": 13},
    "message": "Predicted class: dog with 92.0% confidence",
    "model_version": "v1",
}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def make_settings(**overrides: Any) -> Settings:
    """Test settings: small limits so tests stay small; `overrides` replace any field."""
    values: dict[str, Any] = {
        "SERVICE_B_URL": f"{PREDICTOR_BASE_URL}/predict",
        "SERVICE_B_CONNECT_TIMEOUT": 1.0,
        "SERVICE_B_READ_TIMEOUT": 2.0,
        "SERVICE_B_RETRY_AFTER": 7,
        "MAX_DATA_CHARS": 100,
        "MAX_BODY_BYTES": 1_000,
        "LOG_PREVIEW_CHARS": 20,
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "info",
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def serve(
    app: FastAPI, *, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `app` in-process, with its lifespan running."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(manager.app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_BASE_URL) as client:
            yield client


class LoopbackServer:
    """A TCP server on 127.0.0.1 that runs `handler` for each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.open_connections = 0
        self.most_open_connections = 0
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connected.set()
        self.open_connections += 1
        self.most_open_connections = max(self.most_open_connections, self.open_connections)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()
            self._handlers.discard(task)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request (head and Content-Length body) from the stream."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


async def never_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    """A frozen predictor: accepts, reads, never answers."""
    await read_request(reader)
    await asyncio.Event().wait()


@contextmanager
def gateway_log() -> Iterator[io.StringIO]:
    """What the gateway's log handler writes while the block runs (the last app's format)."""
    handlers = [h for h in logging.getLogger("gateway").handlers if isinstance(h, StreamHandler)]
    assert len(handlers) == 1, "create_app installs exactly one handler on the gateway logger"
    buffer = io.StringIO()
    previous = handlers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        handlers[0].setStream(previous)
