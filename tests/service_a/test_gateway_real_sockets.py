"""The client to B over real loopback sockets, with both transports (aiohttp and httpx).

These check what respx cannot: that the connect and read timeouts and the pool size reach
the transport, that refused or hanging connections and silent servers map to 503 and
504, and that a frozen predictor does not freeze the gateway.
"""

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from gateway_fakes import (
    PREDICTION,
    Handler,
    LoopbackServer,
    make_settings,
    never_answer,
    read_request,
    serve,
)

from gateway.main import create_app

StartServer = Callable[[Handler], Awaitable[LoopbackServer]]
FORWARD = {"data": "cat image data", "forward_to_model": True}
LOG_ONLY = {"data": "cat image data", "forward_to_model": False}
PROMPT = 0.5  # seconds within which a request that does not need B must be answered


@pytest.fixture(params=["aiohttp", "httpx"])
def transport_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def gateway_for(transport_name: str) -> Callable[..., Any]:
    """A gateway using the real transport, pointed at `url` (B's base URL)."""

    @asynccontextmanager
    async def start(url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            SERVICE_B_URL=f"{url}/predict", SERVICE_B_TRANSPORT=transport_name, **overrides
        )
        async with serve(create_app(settings)) as client:
            yield client

    return start


async def answer_prediction(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive predictor: answers every request on the connection with PREDICTION."""
    body = json.dumps(PREDICTION).encode()
    while True:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()


async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"this is not HTTP at all\r\n\r\n")
    await writer.drain()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def test_forwarding_reuses_one_kept_alive_connection(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(answer_prediction)

    async with gateway_for(server.url) as client:
        responses = [await client.post("/process", json=FORWARD) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json()["model_prediction"] == PREDICTION
    assert server.most_open_connections == 1


async def test_refused_connection_gives_503_at_once(
    gateway_for: Callable[..., Any], free_port: int
) -> None:
    async with gateway_for(f"http://127.0.0.1:{free_port}") as client:
        started = time.monotonic()
        response = await client.post("/process", json=FORWARD)

    assert time.monotonic() - started < 1.0
    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert response.headers["retry-after"] == "7"


async def test_unresolvable_host_gives_503(
    gateway_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
        if host in ("predictor.invalid", b"predictor.invalid"):  # fail as DNS would, offline
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    async with gateway_for("http://predictor.invalid") as client:
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503


@pytest.fixture
def unanswered_syn_url() -> Iterator[str]:
    """A loopback address whose accept queue is full, so new connections hang in SYN."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(listener.getsockname())
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            for filler in fillers:
                filler.close()


async def test_connect_timeout_gives_503(
    gateway_for: Callable[..., Any], unanswered_syn_url: str
) -> None:
    async with gateway_for(
        unanswered_syn_url, SERVICE_B_CONNECT_TIMEOUT=0.3, SERVICE_B_READ_TIMEOUT=5.0
    ) as client:
        started = time.monotonic()
        response = await client.post("/process", json=FORWARD)
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert 0.25 < elapsed < 2.0


async def test_silent_predictor_gives_504_after_read_timeout(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(never_answer)

    async with gateway_for(server.url, SERVICE_B_READ_TIMEOUT=0.5) as client:
        started = time.monotonic()
        response = await client.post("/process", json=FORWARD)
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json() == {"detail": "Service B timed out"}
    assert 0.4 < elapsed < 2.0


async def test_garbage_answer_gives_502(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(answer_garbage)

    async with gateway_for(server.url) as client:
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 502
    assert response.json() == {"detail": "Service B returned an invalid response"}


async def test_connection_closed_without_answer_gives_502(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(hang_up)

    async with gateway_for(server.url) as client:
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 502


async def test_pool_size_caps_connections_to_predictor(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(never_answer)

    async with gateway_for(server.url, SERVICE_B_POOL_SIZE=2, SERVICE_B_READ_TIMEOUT=0.5) as client:
        responses = await asyncio.gather(*(client.post("/process", json=FORWARD) for _ in range(5)))

    assert server.most_open_connections == 2
    assert {r.status_code for r in responses} <= {503, 504}


async def test_frozen_predictor_does_not_block_other_requests(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(never_answer)

    async with gateway_for(server.url, SERVICE_B_READ_TIMEOUT=3.0) as client:
        stuck = asyncio.create_task(client.post("/process", json=FORWARD))
        await server.connected.wait()  # the forwarded request now waits on B

        started = time.monotonic()
        health = await client.get("/health")
        logged = await client.post("/process", json=LOG_ONLY)
        elapsed = time.monotonic() - started

        assert not stuck.done()
        stuck.cancel()

    assert (health.status_code, logged.status_code) == (200, 200)
    assert elapsed < PROMPT


async def test_readiness_times_out_on_a_frozen_predictor(
    gateway_for: Callable[..., Any], loopback_server: StartServer
) -> None:
    server = await loopback_server(never_answer)

    async with gateway_for(server.url, SERVICE_B_READ_TIMEOUT=0.5) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is not ready"}
