"""A real TCP server on 127.0.0.1 with a scripted handler: a predictor that refuses,
freezes, hangs up or answers garbage, for the gateway's socket-level tests."""

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LoopbackServer:
    """`async with LoopbackServer(handler) as server:` runs `handler` for each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.open_connections = 0
        self.most_open_connections = 0
        self.connections_made = 0
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "LoopbackServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
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
        self.connections_made += 1
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
