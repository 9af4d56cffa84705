"""The client to B over real loopback sockets, with both transports (aiohttp and httpx).

These check what respx cannot: that the connect and read timeouts and the pool size reach
the transport, that refused or hanging connections and silent servers map to 503 and
504, and that a frozen predictor does not freeze the gateway. They assert what is
answered and in which order, not how fast (the benchmark measures speed).
"""

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from devkit.ports import free_port
from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, make_settings, replica_status
from tests.support.loopback import LoopbackServer, never_answer, read_request

FORWARD = {"data": "cat image data", "forward_to_model": True}
LOG_ONLY = {"data": "cat image data", "forward_to_model": False}
# Bounds a test that would otherwise hang; answers come well within it or not at all.
HANG_GUARD_S = 5.0


@pytest.fixture(params=["aiohttp", "httpx"])
def transport_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@asynccontextmanager
async def gateway_for(
    url: str, transport_name: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway using the real `transport_name` transport, pointed at `url` (B's base URL)."""
    settings = make_settings(SERVICE_B_URL=url, SERVICE_B_TRANSPORT=transport_name, **overrides)
    async with serve(create_app(settings)) as client:
        yield client


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


async def test_forwarding_reuses_one_kept_alive_connection(transport_name: str) -> None:
    async with (
        LoopbackServer(answer_prediction) as server,
        gateway_for(server.url, transport_name) as client,
    ):
        responses = [await client.post("/process", json=FORWARD) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json()["model_prediction"] == PREDICTION
    assert server.connections_made == 1


async def test_refused_connection_gives_503_with_retry_after(transport_name: str) -> None:
    async with gateway_for(f"http://127.0.0.1:{free_port()}", transport_name) as client:
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert response.headers["retry-after"] == "7"


async def test_unresolvable_host_gives_503(
    transport_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: bytes | str | None, *args: Any, **kwargs: Any) -> Any:
        if host in ("predictor.invalid", b"predictor.invalid"):  # fail as DNS would, offline
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    async with gateway_for("http://predictor.invalid", transport_name) as client:
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


async def test_connect_timeout_gives_503_not_the_read_timeouts_504(
    transport_name: str, unanswered_syn_url: str
) -> None:
    # The read timeout is longer than the guard: only the connect timeout can answer in time.
    async with (
        gateway_for(
            unanswered_syn_url,
            transport_name,
            SERVICE_B_CONNECT_TIMEOUT=0.3,
            SERVICE_B_READ_TIMEOUT=HANG_GUARD_S * 2,
        ) as client,
        asyncio.timeout(HANG_GUARD_S),
    ):
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}


async def test_silent_predictor_gives_504_after_read_timeout(transport_name: str) -> None:
    async with (
        LoopbackServer(never_answer) as server,
        gateway_for(server.url, transport_name, SERVICE_B_READ_TIMEOUT=0.5) as client,
        asyncio.timeout(HANG_GUARD_S),
    ):
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 504
    assert response.json() == {"detail": "Service B timed out"}


async def test_garbage_answer_gives_502(transport_name: str) -> None:
    async with (
        LoopbackServer(answer_garbage) as server,
        gateway_for(server.url, transport_name) as client,
    ):
        response = await client.post("/process", json=FORWARD)

    assert response.status_code == 502
    assert response.json() == {"detail": "Service B returned an invalid response"}


class AnswersThenHangsUp:
    """Answers the first `answers` requests (keep-alive), then closes on every request."""

    def __init__(self, answers: int) -> None:
        self.left = answers

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = json.dumps(PREDICTION).encode()
        while True:
            await read_request(reader)
            if self.left <= 0:
                writer.close()
                return
            self.left -= 1
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()


async def test_connection_closed_before_answering_is_retried_once_on_a_new_one(
    transport_name: str,
) -> None:
    async with (
        LoopbackServer(AnswersThenHangsUp(4)) as server,
        gateway_for(server.url, transport_name, RETRY_BUDGET_RATIO=0.5) as client,
    ):
        answered = [await client.post("/process", json=FORWARD) for _ in range(4)]
        response = await client.post("/process", json=FORWARD)

    assert [r.status_code for r in answered] == [200] * 4
    # The kept-alive connection was closed on the call; its one retry, on a new
    # connection, was too: a 503, as for a predictor that went away.
    assert server.connections_made == 2
    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}


async def test_pool_size_caps_connections_and_sheds_calls_over_it(transport_name: str) -> None:
    # Two calls in flight at most (the pool size), each stuck until the read timeout; the
    # other three wait for a slot no longer than the queue timeout, then get 503.
    async with (
        LoopbackServer(never_answer) as server,
        gateway_for(
            server.url,
            transport_name,
            SERVICE_B_POOL_SIZE=2,
            SERVICE_B_READ_TIMEOUT=2.0,
            SERVICE_B_QUEUE_TIMEOUT=0.2,
        ) as client,
    ):
        responses = await asyncio.gather(*(client.post("/process", json=FORWARD) for _ in range(5)))

    assert server.connections_made == 2
    assert sorted(r.status_code for r in responses) == [503, 503, 503, 504, 504]


async def test_frozen_predictor_does_not_block_other_requests(transport_name: str) -> None:
    async with (
        LoopbackServer(never_answer) as server,
        gateway_for(server.url, transport_name, SERVICE_B_READ_TIMEOUT=HANG_GUARD_S * 2) as client,
    ):
        stuck = asyncio.create_task(client.post("/process", json=FORWARD))
        await server.connected.wait()  # the forwarded request now waits on B

        async with asyncio.timeout(HANG_GUARD_S):
            health = await client.get("/health")
            logged = await client.post("/process", json=LOG_ONLY)

        # Both were answered while the forwarded request was still waiting on B.
        assert not stuck.done()
        stuck.cancel()

    assert (health.status_code, logged.status_code) == (200, 200)


async def test_readiness_has_its_own_short_timeout_on_a_frozen_predictor(
    transport_name: str,
) -> None:
    # The read timeout is longer than the guard: only the readiness timeout answers in time.
    async with (
        LoopbackServer(never_answer) as server,
        gateway_for(
            server.url,
            transport_name,
            SERVICE_B_READ_TIMEOUT=HANG_GUARD_S * 2,
            SERVICE_B_READY_TIMEOUT=0.3,
        ) as client,
        asyncio.timeout(HANG_GUARD_S),
    ):
        response = await client.get("/ready")
        address = f"127.0.0.1:{server.port}"

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "closed",
        "replicas": [replica_status("not_ready", address=address)],
    }
