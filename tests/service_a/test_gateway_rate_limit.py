"""RATE_LIMIT on POST /process: the 429 and its headers, bursts, one count per API key
(per client address without keys), the window that lets a caller back in, the one-line
refusal of bad settings, a storage that fails letting requests through, and in-memory
counts kept per app instance.

Most tests run on a fake clock (`limits` reads `time.time()`), so windows never roll over
in the middle of a test; one waits a real second to show the real clock does the same.
"""

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import limits.aio.storage.memory
import limits.aio.strategies
import pytest
import respx
from asgi_lifespan import LifespanManager

import gateway.rate_limit
from devkit.ports import free_port
from gateway.config import Settings
from gateway.main import create_app
from service_common.settings import load_settings
from tests.support.asgi import BASE_URL
from tests.support.gateway import (
    PREDICTION,
    PREDICTOR_BASE_URL,
    make_settings,
    start_up_refusal,
)
from tests.support.metrics import scrape

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
LOGGED_ONLY = {"data": "cat image data", "forward_to_model": False}
FORWARD = {"data": "cat image data", "forward_to_model": True}
RATE_LIMITED = {"detail": "Rate limit exceeded"}
STORAGE_ERRORS = "gateway_rate_limit_storage_errors_total"

MINUTE_START = 1_800_000_000.0  # a whole number of minutes since the epoch


class FakeClock:
    """Stands for the `time` module where the rate limit reads the time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A clock standing still 15 s into a minute (and half a second into a second) until a
    test moves it."""
    fake = FakeClock(MINUTE_START + 15.5)
    for module in (limits.aio.storage.memory, limits.aio.strategies, gateway.rate_limit):
        monkeypatch.setattr(module, "time", fake)
    return fake


@dataclass
class Gateway:
    app_client: httpx.AsyncClient
    clients: dict[str, httpx.AsyncClient]
    """A client per caller address."""
    predict: respx.Route

    async def process(
        self, headers: dict[str, str] | None = None, *, address: str | None = None
    ) -> httpx.Response:
        client = self.clients[address] if address else self.app_client
        return await client.post("/process", json=LOGGED_ONLY, headers=headers)

    async def statuses(
        self, count: int, headers: dict[str, str] | None = None, *, address: str | None = None
    ) -> list[int]:
        """The statuses of `count` requests sent one after the other."""
        return [(await self.process(headers, address=address)).status_code for _ in range(count)]


@asynccontextmanager
async def gateway_from(
    settings: Settings, addresses: tuple[str, ...] = ()
) -> AsyncIterator[Gateway]:
    """The gateway of `settings` (lifespan running) in front of a predictor that answers
    every input, with one client per caller address in `addresses`."""
    router = respx.Router(base_url=PREDICTOR_BASE_URL, assert_all_called=False)
    predict = router.post("/predict").respond(200, json=PREDICTION)
    app = create_app(settings, transport=httpx.MockTransport(router.async_handler))
    async with AsyncExitStack() as stack:
        manager = await stack.enter_async_context(LifespanManager(app))

        async def client_from(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(manager.app, client=(address, 40_000))
            client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
            return await stack.enter_async_context(client)

        clients = {address: await client_from(address) for address in addresses}
        yield Gateway(await client_from("127.0.0.1"), clients, predict)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok_then_refused(admitted: int, refused: int = 1) -> list[int]:
    return [200] * admitted + [429] * refused


# --- The 429 ---------------------------------------------------------------------------


async def test_over_the_limit_is_429_with_retry_after_and_ratelimit_headers(
    clock: FakeClock,
) -> None:
    async with gateway_from(make_settings(RATE_LIMIT="3/minute")) as gateway:
        assert await gateway.statuses(3) == [200, 200, 200]
        response = await gateway.process()

    assert response.status_code == 429
    assert response.json() == RATE_LIMITED
    # 15.5 s into the minute: the minute's hits start to count less in 44.5 s.
    assert response.headers["retry-after"] == "45"
    assert response.headers["ratelimit-policy"] == '"3 per 1 minute";q=3;w=60'
    assert response.headers["ratelimit"] == '"3 per 1 minute";r=0;t=45'


async def test_429_is_not_logged_nor_forwarded(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async with gateway_from(make_settings(RATE_LIMIT="1/minute")) as gateway:
        first = await gateway.app_client.post("/process", json=FORWARD)
        second = await gateway.app_client.post("/process", json=FORWARD)

    assert (first.status_code, second.status_code) == (200, 429)
    assert len([r for r in caplog.records if r.name == "gateway.inputs"]) == 1
    assert gateway.predict.call_count == 1


async def test_without_rate_limit_nothing_is_refused(clock: FakeClock) -> None:
    async with gateway_from(make_settings()) as gateway:
        statuses = await asyncio.gather(*(gateway.process() for _ in range(50)))

    assert {response.status_code for response in statuses} == {200}


# --- Bursts and several limits ---------------------------------------------------------


async def test_burst_up_to_the_limit_is_admitted_at_once_and_the_next_refused(
    clock: FakeClock,
) -> None:
    async with gateway_from(make_settings(RATE_LIMIT="5/second")) as gateway:
        burst = await asyncio.gather(*(gateway.process() for _ in range(6)))

    assert sorted(response.status_code for response in burst) == ok_then_refused(5)


async def test_per_second_limit_of_several_refuses_and_is_the_one_named(
    clock: FakeClock,
) -> None:
    async with gateway_from(make_settings(RATE_LIMIT="6000/minute;3/second")) as gateway:
        admitted = await gateway.statuses(3)
        response = await gateway.process()

    assert admitted == [200, 200, 200]
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["ratelimit"] == '"3 per 1 second";r=0;t=1'
    assert response.headers["ratelimit-policy"] == (
        '"6000 per 1 minute";q=6000;w=60, "3 per 1 second";q=3;w=1'
    )


@pytest.mark.parametrize("rate_limit", ["10/minute;2/second", "2/second;10/minute"])
async def test_requests_refused_by_one_limit_do_not_use_up_another(
    clock: FakeClock, rate_limit: str
) -> None:
    clock.now = MINUTE_START + 10.999  # the end of each second: the last one counts ~0
    admitted_each_second = []

    async with gateway_from(make_settings(RATE_LIMIT=rate_limit)) as gateway:
        for _ in range(6):
            statuses = await gateway.statuses(4)  # twice the per-second limit
            admitted_each_second.append(statuses.count(200))
            clock.advance(1)

    # Two a second, until the minute's ten are used; whichever limit is written first.
    assert admitted_each_second == [2, 2, 2, 2, 2, 0]


@pytest.mark.parametrize("strategy", ["sliding-window-counter", "fixed-window", "moving-window"])
async def test_each_strategy_admits_the_limit_then_refuses(clock: FakeClock, strategy: str) -> None:
    settings = make_settings(RATE_LIMIT="4/minute", RATE_LIMIT_STRATEGY=strategy)

    async with gateway_from(settings) as gateway:
        assert await gateway.statuses(5) == ok_then_refused(4)


# --- Who is counted --------------------------------------------------------------------


async def test_limit_is_counted_per_api_key(clock: FakeClock) -> None:
    settings = make_settings(API_KEYS=f"{KEY_A},{KEY_B}", RATE_LIMIT="2/minute")

    async with gateway_from(settings) as gateway:
        key_a = await gateway.statuses(3, bearer(KEY_A))
        key_b = await gateway.statuses(3, {"X-API-Key": KEY_B})
        key_a_as_header = await gateway.process({"X-API-Key": KEY_A})

    assert key_a == ok_then_refused(2)
    assert key_b == ok_then_refused(2)
    assert key_a_as_header.status_code == 429  # the key's count, however it is sent


async def test_limit_is_counted_per_client_address_without_keys(clock: FakeClock) -> None:
    addresses = ("10.0.0.1", "10.0.0.2")

    async with gateway_from(make_settings(RATE_LIMIT="2/minute"), addresses) as gateway:
        first = await gateway.statuses(3, address="10.0.0.1")
        second = await gateway.statuses(3, address="10.0.0.2")

    assert first == ok_then_refused(2)
    assert second == ok_then_refused(2)


async def test_in_memory_limit_is_counted_per_app_instance(clock: FakeClock) -> None:
    settings = make_settings(RATE_LIMIT="2/minute")

    async with gateway_from(settings) as one, gateway_from(settings) as other:
        assert await one.statuses(3) == ok_then_refused(2)
        assert await other.statuses(3) == ok_then_refused(2)


# --- The window ------------------------------------------------------------------------


async def test_caller_that_waits_retry_after_is_admitted_again(clock: FakeClock) -> None:
    async with gateway_from(make_settings(RATE_LIMIT="3/minute")) as gateway:
        await gateway.statuses(3)
        refused = await gateway.process()
        clock.advance(int(refused.headers["retry-after"]) - 1)
        too_early = await gateway.process()
        clock.advance(1.001)
        back = await gateway.process()

    assert (refused.status_code, too_early.status_code, back.status_code) == (429, 429, 200)


async def test_caller_is_admitted_again_after_a_real_second() -> None:
    # Real time: a fixed window starts at the first hit, so it cannot roll over meanwhile.
    settings = make_settings(RATE_LIMIT="2/second", RATE_LIMIT_STRATEGY="fixed-window")

    async with gateway_from(settings) as gateway:
        assert await gateway.statuses(3) == ok_then_refused(2)
        refused = await gateway.process()
        await asyncio.sleep(int(refused.headers["retry-after"]))
        assert await gateway.statuses(3) == ok_then_refused(2)

    assert refused.headers["retry-after"] == "1"


# --- Settings refused at start-up ------------------------------------------------------


@pytest.mark.parametrize(
    "value, reason",
    [
        ("abc", "is not a rate limit such as 100/second or 6000/minute;200/second"),
        ("100/sec", "is not a rate limit such as 100/second or 6000/minute;200/second"),
        ("-1/second", "is not a rate limit such as 100/second or 6000/minute;200/second"),
        ("0/second", "each limit must allow at least 1 request"),
        ("6000/minute;0/second", "each limit must allow at least 1 request"),
        ("1/0 second", "a window must be at least 1 of its unit"),
        ("1 per 0 seconds", "a window must be at least 1 of its unit"),
        ("1/2 years", "a window must be at most a year"),
    ],
)
def test_bad_rate_limit_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    message = start_up_refusal(monkeypatch, RATE_LIMIT=value)

    assert f"RATE_LIMIT={value!r}" in message
    assert reason in message


def test_unknown_rate_limit_strategy_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = start_up_refusal(monkeypatch, RATE_LIMIT_STRATEGY="token-bucket")

    assert message.startswith("Invalid setting RATE_LIMIT_STRATEGY='token-bucket': ")
    assert "'sliding-window-counter', 'fixed-window' or 'moving-window'" in message


def test_unknown_rate_limit_storage_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = start_up_refusal(monkeypatch, RATE_LIMIT_STORAGE="http://user:hunter2-secret@x")

    assert message.startswith("Invalid setting RATE_LIMIT_STORAGE: ")
    assert "memory:// or a Redis URL" in message
    assert "hunter2-secret" not in message


def test_strategy_is_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_STRATEGY", "Moving-Window")

    assert load_settings(Settings).RATE_LIMIT_STRATEGY == "moving-window"


# --- A storage that fails --------------------------------------------------------------


def storage_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gateway.rate_limit" and r.levelno == level
    ]


async def test_storage_that_refuses_connections_lets_requests_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()  # nothing listens there
    settings = make_settings(
        RATE_LIMIT="1/minute", RATE_LIMIT_STORAGE=f"redis://127.0.0.1:{port}/0"
    )

    async with gateway_from(settings) as gateway:
        statuses = await gateway.statuses(6)
        metrics = await scrape(gateway.app_client)

    assert statuses == [200] * 6
    [warning] = storage_lines(caplog, logging.WARNING)
    assert f"RATE_LIMIT_STORAGE redis://127.0.0.1:{port}/0 does not answer" in warning
    [error] = storage_lines(caplog, logging.ERROR)
    assert "requests are let through" in error
    assert metrics.value(STORAGE_ERRORS) == 6


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-secret@127.0.0.1:{port}/0",
        "redis://user:hunter2-secret@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password=hunter2-secret",
    ],
    ids=["password", "user and password", "password in the query"],
)
async def test_storage_password_is_not_logged(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = make_settings(RATE_LIMIT="1/minute", RATE_LIMIT_STORAGE=url.format(port=port))

    async with gateway_from(settings) as gateway:
        await gateway.statuses(2)

    assert "hunter2-secret" not in caplog.text
    [warning] = storage_lines(caplog, logging.WARNING)
    assert f"redis://127.0.0.1:{port}/0 does not answer" in warning


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


async def test_storage_slower_than_its_timeout_lets_requests_through_in_time(
    silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    timeout = 0.1
    settings = make_settings(
        RATE_LIMIT="1/minute",
        RATE_LIMIT_STORAGE=f"redis://127.0.0.1:{silent_port}/0",
        RATE_LIMIT_STORAGE_TIMEOUT_S=timeout,
    )

    async with gateway_from(settings) as gateway:
        started = time.monotonic()
        statuses = await gateway.statuses(3)
        took = time.monotonic() - started
        metrics = await scrape(gateway.app_client)

    assert statuses == [200, 200, 200]
    assert took < 3 * timeout + 0.5
    assert len(storage_lines(caplog, logging.WARNING)) == 1
    assert len(storage_lines(caplog, logging.ERROR)) == 1
    assert metrics.value(STORAGE_ERRORS) == 3


async def test_in_memory_storage_counts_no_storage_error(clock: FakeClock) -> None:
    async with gateway_from(make_settings(RATE_LIMIT="1/minute")) as gateway:
        await gateway.statuses(3)
        metrics = await scrape(gateway.app_client)

    assert metrics.value(STORAGE_ERRORS) == 0


@pytest.mark.parametrize("value", ["0.000000001", "0", "6", "inf"])
def test_storage_timeout_out_of_its_range_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Too short, every count would time out (no limit ever); too long, a frozen Redis
    # would hold every request that long.
    message = start_up_refusal(monkeypatch, RATE_LIMIT_STORAGE_TIMEOUT_S=value)

    assert "RATE_LIMIT_STORAGE_TIMEOUT_S" in message


def test_an_empty_rate_limit_storage_is_memory() -> None:
    # What compose passes for `${RATE_LIMIT_STORAGE:-}` when the shell leaves it unset.
    settings = make_settings(RATE_LIMIT_STORAGE="")

    assert settings.RATE_LIMIT_STORAGE.get_secret_value() == "memory://"
