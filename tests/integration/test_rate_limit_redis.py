"""RATE_LIMIT kept in a real redis-server, with the gateway as real processes: one limit
shared by two gateways (and, in memory, one limit per process), and requests let through
while Redis is killed, until it is back.

The gateways run without a predictor: every input is sent with forward_to_model=false.
Limits are `10/hour`: counted with the default strategy (sliding-window-counter), whose
windows start on the hour, so `outside_a_window_boundary` keeps each count clear of one.
"""

import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, ServiceProcess
from tests.support.redis_server import RedisServer, redis_server_executable

pytestmark = pytest.mark.integration

KEY = "integration-key-0123456789"
KEY_ID = hashlib.sha256(KEY.encode()).hexdigest()[:12]  # how the log names KEY
LIMIT = 10
RATE_LIMIT = f"{LIMIT}/hour"
WINDOW_S = 3600
STORAGE_TIMEOUT_S = 0.5
LOGGED_ONLY = {"data": "cat image data", "forward_to_model": False}
ALLOWED_LATENCY_S = STORAGE_TIMEOUT_S + 0.5  # the storage timeout, and a loaded machine


@pytest.fixture(scope="module")
def redis_executable() -> str:
    return redis_server_executable()


def outside_a_window_boundary(margin_s: float = 5.0) -> None:
    """Wait, if a limit's window ends within `margin_s`, until it has: a count that spans
    two windows of the sliding-window counter is not exact."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < margin_s:
        time.sleep(left + 0.1)


@dataclass(frozen=True)
class Answer:
    status: int
    latency_s: float


def process(client: httpx.Client, gateway: ServiceProcess) -> Answer:
    started = time.monotonic()
    response = client.post(
        gateway.url + "/process", json=LOGGED_ONLY, headers={"Authorization": f"Bearer {KEY}"}
    )
    return Answer(response.status_code, time.monotonic() - started)


def start_gateways(
    stack: ExitStack, folder: Path, storage: str, count: int
) -> list[ServiceProcess]:
    """`count` gateways with the same keys, limit and `storage`, started side by side;
    each stopped when `stack` closes."""
    settings = {
        "SERVICE_B_URL": f"http://127.0.0.1:{free_port()}",  # nothing there: never called
        "API_KEYS": KEY,
        "RATE_LIMIT": RATE_LIMIT,
        "RATE_LIMIT_STORAGE": storage,
        "RATE_LIMIT_STORAGE_TIMEOUT_S": str(STORAGE_TIMEOUT_S),
    }
    gateways = [
        ServiceProcess("service_a", free_port(), settings, folder / f"service_a-{n}.log")
        for n in range(count)
    ]
    for gateway in gateways:
        stack.callback(gateway.stop)
        gateway.start()
    for gateway in gateways:
        gateway.wait_until_ok("/health", GATEWAY_READY_TIMEOUT)
    return gateways


def gateway_lines(log: str, level: str) -> list[str]:
    """The lines of the gateway's own loggers at `level` (not uvicorn's)."""
    return [line for line in log.splitlines() if f" {level} gateway." in line]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


# --- Two gateways, one limit in Redis --------------------------------------------------


@dataclass(frozen=True)
class SharedLimit:
    alternating: list[int]
    """The statuses of LIMIT requests sent to one gateway, then the other, in turn."""
    over_first: Answer
    over_second: Answer
    logs: list[str]


@pytest.fixture(scope="module")
def shared_limit(redis_executable: str, tmp_path_factory: pytest.TempPathFactory) -> SharedLimit:
    folder = tmp_path_factory.mktemp("shared-limit")
    with ExitStack() as stack, httpx.Client(trust_env=False, timeout=10.0) as client:
        redis = RedisServer(redis_executable, folder).start()
        stack.callback(redis.stop)
        first, second = start_gateways(stack, folder, redis.url, 2)
        outside_a_window_boundary()
        alternating = [process(client, (first, second)[n % 2]).status for n in range(LIMIT)]
        over_first, over_second = process(client, first), process(client, second)
        stack.close()
        return SharedLimit(
            alternating, over_first, over_second, [first.log_text(), second.log_text()]
        )


def test_limit_in_redis_admits_the_limit_across_two_gateways(shared_limit: SharedLimit) -> None:
    assert shared_limit.alternating == [200] * LIMIT


def test_limit_in_redis_refuses_the_next_request_on_either_gateway(
    shared_limit: SharedLimit,
) -> None:
    assert (shared_limit.over_first.status, shared_limit.over_second.status) == (429, 429)


def test_gateways_with_redis_up_log_no_storage_problem(shared_limit: SharedLimit) -> None:
    for log in shared_limit.logs:
        assert "RATE_LIMIT_STORAGE" not in log
        assert "Rate-limit storage" not in log


def test_gateway_processes_log_the_key_id_and_never_the_key(shared_limit: SharedLimit) -> None:
    for log in shared_limit.logs:
        assert KEY not in log
        inputs = [line for line in log.splitlines() if "gateway.inputs" in line]
        assert inputs
        assert all(line.endswith(f" api_key={KEY_ID}") for line in inputs)


# --- Two gateways, each its own limit in memory ----------------------------------------


def test_in_memory_limit_is_counted_per_gateway_process(
    client: httpx.Client, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        first, second = start_gateways(stack, tmp_path, "memory://", 2)
        outside_a_window_boundary()
        alternating = [process(client, (first, second)[n % 2]).status for n in range(2 * LIMIT)]
        over = [process(client, gateway).status for gateway in (first, second)]

    assert alternating == [200] * (2 * LIMIT)
    assert over == [429, 429]


# --- Redis killed under a running gateway, then started again ------------------------


@dataclass(frozen=True)
class KilledRedis:
    before: list[Answer]
    while_down: list[Answer]
    after_restart: list[Answer]
    log_while_down: str
    log: str


@pytest.fixture(scope="module")
def killed_redis(redis_executable: str, tmp_path_factory: pytest.TempPathFactory) -> KilledRedis:
    folder = tmp_path_factory.mktemp("killed-redis")
    with ExitStack() as stack, httpx.Client(trust_env=False, timeout=10.0) as client:
        redis = RedisServer(redis_executable, folder).start()
        stack.callback(redis.stop)
        [gateway] = start_gateways(stack, folder, redis.url, 1)
        before = [process(client, gateway) for _ in range(3)]
        redis.kill()  # SIGKILL: connections reset, nothing counted survives
        while_down = [process(client, gateway) for _ in range(2 * LIMIT)]
        log_while_down = gateway.log_text()
        redis.start()  # the same port
        outside_a_window_boundary()
        after_restart = [process(client, gateway) for _ in range(LIMIT + 1)]
        stack.close()
        return KilledRedis(before, while_down, after_restart, log_while_down, gateway.log_text())


def test_requests_are_admitted_while_redis_is_up(killed_redis: KilledRedis) -> None:
    assert [answer.status for answer in killed_redis.before] == [200, 200, 200]


def test_requests_are_let_through_within_the_timeout_while_redis_is_down(
    killed_redis: KilledRedis,
) -> None:
    # More than LIMIT: with the limit applied, some would be 429.
    assert [answer.status for answer in killed_redis.while_down] == [200] * (2 * LIMIT)
    slowest = max(answer.latency_s for answer in killed_redis.while_down)
    assert slowest < ALLOWED_LATENCY_S


def test_gateway_logs_one_error_line_for_the_outage(killed_redis: KilledRedis) -> None:
    errors = gateway_lines(killed_redis.log_while_down, "ERROR")

    assert len(errors) == 1, errors
    assert "Rate-limit storage failed" in errors[0]
    assert "requests are let through" in errors[0]


def test_limit_applies_again_once_redis_is_back(killed_redis: KilledRedis) -> None:
    statuses = [answer.status for answer in killed_redis.after_restart]

    # The restarted Redis counts from zero: the limit, then 429.
    assert statuses == [200] * LIMIT + [429]


def test_gateway_logs_that_the_storage_answers_again(killed_redis: KilledRedis) -> None:
    back = [line for line in gateway_lines(killed_redis.log, "WARNING") if "answers again" in line]

    assert len(back) == 1, back
    assert "Rate-limit storage answers again: the limit applies" in back[0]


# --- A Redis that answers but refuses the gateway --------------------------------------

REDIS_PASSWORD = "redis-password-0123456789"


@pytest.fixture(scope="module")
def guarded_redis(
    redis_executable: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    """A redis-server that asks for REDIS_PASSWORD."""
    server = RedisServer(
        redis_executable, tmp_path_factory.mktemp("guarded-redis"), password=REDIS_PASSWORD
    )
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "credentials", ["", ":wrong-password-0123@"], ids=["no password", "a wrong password"]
)
def test_redis_that_refuses_the_gateway_stops_its_start_in_one_line(
    guarded_redis: RedisServer, credentials: str, tmp_path: Path
) -> None:
    storage = f"redis://{credentials}127.0.0.1:{guarded_redis.port}/0"
    gateway = ServiceProcess(
        "service_a",
        free_port(),
        {"RATE_LIMIT": RATE_LIMIT, "RATE_LIMIT_STORAGE": storage},
        tmp_path / "service_a.log",
    )
    try:
        gateway.start()
        exit_status = (
            gateway.process.wait(timeout=GATEWAY_READY_TIMEOUT) if gateway.process else None
        )
    finally:
        gateway.stop()
    log = gateway.log_path.read_text()

    assert exit_status not in (0, None)
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1, log
    assert "Invalid setting RATE_LIMIT_STORAGE" in lines[0]
    assert "AuthenticationError" in lines[0]
    assert "wrong-password" not in log


def test_redis_with_its_password_keeps_the_limit(
    guarded_redis: RedisServer, client: httpx.Client, tmp_path: Path
) -> None:
    outside_a_window_boundary()
    storage = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{guarded_redis.port}/1"
    with ExitStack() as stack:
        [gateway] = start_gateways(stack, tmp_path, storage, 1)
        statuses = [process(client, gateway).status for _ in range(LIMIT + 1)]
        log = gateway.log_path.read_text()

    assert statuses == [200] * LIMIT + [429]
    assert REDIS_PASSWORD not in log


# --- Who the client is: the connection's address, unless a proxy is trusted -------------


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [({}, [200, 429]), ({"FORWARDED_ALLOW_IPS": "127.0.0.1"}, [200, 200])],
    ids=["no proxy trusted", "loopback trusted as a proxy"],
)
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    trusted: dict[str, str], expected: list[int], client: httpx.Client, tmp_path: Path
) -> None:
    settings = {
        "SERVICE_B_URL": f"http://127.0.0.1:{free_port()}",
        "RATE_LIMIT": "1/hour",
        **trusted,
    }
    outside_a_window_boundary()
    gateway = ServiceProcess("service_a", free_port(), settings, tmp_path / "service_a.log")
    try:
        gateway.start().wait_until_ok("/health", GATEWAY_READY_TIMEOUT)
        statuses = [
            client.post(
                gateway.url + "/process",
                json=LOGGED_ONLY,
                headers={"X-Forwarded-For": f"10.0.0.{n}"},
            ).status_code
            for n in (1, 2)
        ]
    finally:
        gateway.stop()

    # Without a trusted proxy both come from 127.0.0.1: one caller, one request an hour.
    assert statuses == expected
