"""Fixtures of the gateway's tests: a respx-mocked predictor and real loopback servers."""

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import respx
from gateway_fakes import PREDICTOR_BASE_URL, Handler, LoopbackServer, make_settings, serve

from gateway.main import create_app


@pytest.fixture
def predictor() -> Iterator[respx.Router]:
    """A mocked predictor; every route a test registers must be called."""
    router = respx.Router(base_url=PREDICTOR_BASE_URL, assert_all_called=True)
    yield router
    router.assert_all_called()


@pytest.fixture
async def client(predictor: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with test settings, in front of the mocked predictor."""
    app = create_app(make_settings(), transport=httpx.MockTransport(predictor.async_handler))
    async with serve(app) as client:
        yield client


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (bound once by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def loopback_server() -> AsyncIterator[Callable[[Handler], Awaitable[LoopbackServer]]]:
    """Start real TCP servers on 127.0.0.1 (port 0) with a given handler; stopped after."""
    servers: list[LoopbackServer] = []

    async def start(handler: Handler) -> LoopbackServer:
        server = LoopbackServer(handler)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
