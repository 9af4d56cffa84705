"""The HTTP server's connection limits, on both services as `python main.py` processes.

A client that is silent, slow or greedy (huge heads, huge bodies, too many connections)
gets a clear answer or a close within the configured limits, the process's memory stays
flat, and the service goes on serving. Timeouts here are small settings; each check
allows them a few seconds of slack, so what is asserted is the setting's effect.
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.ports import free_port
from devkit.processes import (
    GATEWAY_READY_TIMEOUT,
    PREDICTOR_READY_TIMEOUT,
    ServiceProcess,
    http_status,
)
from tests.support.raw_http import (
    Ending,
    connect,
    drip_until_closed,
    head_of_size,
    is_quiet_for,
    parse_response,
    read_responses,
    read_until_closed,
    request_head,
    rss_bytes,
    send_until_refused,
)

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 1.5
KEEPALIVE_TIMEOUT_S = 1.5
MAX_HEADER_BYTES = 4096
SLACK_S = 3.0  # allowed beyond a timeout setting before the server must have acted
DRIP_INTERVAL_S = 0.3
SMALL_LIMITS = {
    "HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
    "MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
}
MAX_CONNECTIONS = 8
EXTRA_CONNECTIONS = 20
MAX_RSS_GROWTH = 20 * 1024 * 1024
MIB = 1024 * 1024
DECLARED_BODY_BYTES = 100 * MIB
SENT_BODY_MIB = 4  # of a declared 100 MiB body, before the client gives up
RECOVERY_GUARD_S = 5.0

MAIN_ROUTE = {"service_a": "/process", "service_b": "/predict"}
READY = {
    "service_a": ("/health", GATEWAY_READY_TIMEOUT),
    "service_b": ("/ready", PREDICTOR_READY_TIMEOUT),
}


@contextmanager
def running(service: str, env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    """`service` started with `env` on a free port, once it answers; stopped afterwards."""
    process = ServiceProcess(service, free_port(), env, log_dir / f"{service}.log")
    path, timeout = READY[service]
    try:
        process.start().wait_until_ok(path, timeout)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module", params=["service_a", "service_b"])
def service_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def base_env(service_name: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """What the service needs to start: the gateway a predictor URL where nothing listens
    (its /health does not need one), the predictor a trained model."""
    if service_name == "service_a":
        return {"SERVICE_B_URL": f"http://127.0.0.1:{free_port()}", "ACCESS_LOG": "false"}
    model_dir: Path = request.getfixturevalue("model_dir")
    return {"MODEL_DIR": str(model_dir), "ACCESS_LOG": "false"}


@pytest.fixture(scope="module")
def service(
    service_name: str, base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The service with small timeouts and header limit, shared by this module's tests."""
    log_dir = tmp_path_factory.mktemp(f"{service_name}-limits")
    with running(service_name, base_env | SMALL_LIMITS, log_dir) as process:
        yield process


def ending_of(process: ServiceProcess, payload: bytes, then_send: list[bytes]) -> Ending:
    """Send `payload`, then `then_send` until the server stops taking it; how it ended."""
    with connect(process.port) as sock:
        sock.sendall(payload)
        send_until_refused(sock, then_send)
        return read_until_closed(sock)


# Header timeout.
def test_silent_connection_is_closed_after_header_timeout(service: ServiceProcess) -> None:
    with connect(service.port) as sock:
        started = time.monotonic()
        sock.settimeout(HEADER_TIMEOUT_S + SLACK_S)

        open_early = is_quiet_for(sock, HEADER_TIMEOUT_S / 3)
        ending = read_until_closed(sock, started)

    assert open_early
    assert ending.data == b""
    assert ending.after_s < HEADER_TIMEOUT_S + SLACK_S


def test_head_dripped_byte_by_byte_gets_408_within_header_timeout(
    service: ServiceProcess,
) -> None:
    head = request_head("GET", "/health")
    with connect(service.port) as sock:
        ending = drip_until_closed(
            sock,
            head,
            DRIP_INTERVAL_S,
            guard_s=HEADER_TIMEOUT_S + SLACK_S,
            started=time.monotonic(),
        )

    assert 0 < ending.sent < len(head)
    response = parse_response(ending.data)
    assert response.status == 408
    assert response.json() == {"detail": "Request header timeout"}
    assert response.headers["connection"] == "close"


# Keep-alive timeout.
def test_idle_kept_alive_connection_is_closed_despite_dripped_crlfs(
    service: ServiceProcess,
) -> None:
    with connect(service.port) as sock:
        sock.sendall(request_head("GET", "/health"))
        [response] = read_responses(sock)
        ending = drip_until_closed(
            sock,
            b"\r\n",
            DRIP_INTERVAL_S,
            guard_s=KEEPALIVE_TIMEOUT_S + SLACK_S,
            started=time.monotonic(),
        )

    assert response.status == 200
    assert ending.data == b""
    assert ending.sent >= 2  # CRLFs went in while the connection stayed idle


def test_pipelined_requests_on_one_connection_are_all_answered(service: ServiceProcess) -> None:
    with connect(service.port) as sock:
        sock.sendall(request_head("GET", "/health") * 2)
        responses = read_responses(sock, 2)

    assert [r.status for r in responses] == [200, 200]
    assert [r.json() for r in responses] == [{"status": "ok"}, {"status": "ok"}]


# Header size.
def test_head_of_max_header_bytes_is_answered(service: ServiceProcess) -> None:
    with connect(service.port) as sock:
        sock.sendall(head_of_size(MAX_HEADER_BYTES))
        [response] = read_responses(sock)

    assert response.status == 200


def test_head_over_max_header_bytes_gets_431_and_close(service: ServiceProcess) -> None:
    ending = ending_of(service, head_of_size(MAX_HEADER_BYTES + 1), [])

    response = parse_response(ending.data)
    assert response.status == 431
    assert response.json() == {"detail": "Request header fields too large"}
    assert response.headers["connection"] == "close"


def huge_header(mib: int) -> tuple[bytes, list[bytes]]:
    """The start of a GET head, and an X-Big header value of `mib` MiB in 1 MiB pieces."""
    start = request_head("GET", "/health").removesuffix(b"\r\n") + b"X-Big: "
    return start, [b"a" * MIB] * mib


def test_64_mib_header_gets_431(service: ServiceProcess) -> None:
    ending = ending_of(service, *huge_header(64))

    response = parse_response(ending.data)
    assert response.status == 431
    assert response.json() == {"detail": "Request header fields too large"}


def test_64_mib_header_leaves_memory_flat_and_service_up(service: ServiceProcess) -> None:
    before = rss_bytes(service.pid)

    ending_of(service, *huge_header(64))

    assert rss_bytes(service.pid) - before < MAX_RSS_GROWTH
    assert http_status(service.url + "/health") == 200


# Body size.
def declared_body_head(route: str, length: int) -> bytes:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(length))]
    return request_head("POST", route, headers)


def test_declared_100_mib_body_gets_413(service: ServiceProcess, service_name: str) -> None:
    head = declared_body_head(MAIN_ROUTE[service_name], DECLARED_BODY_BYTES)

    ending = ending_of(service, head, [b"a" * MIB] * SENT_BODY_MIB)

    response = parse_response(ending.data)
    assert response.status == 413
    assert response.json() == {"detail": "Request body too large"}


def test_stream_of_100_mib_bodies_leaves_memory_flat(
    service: ServiceProcess, service_name: str
) -> None:
    head = declared_body_head(MAIN_ROUTE[service_name], DECLARED_BODY_BYTES)
    before = rss_bytes(service.pid)

    statuses = [
        parse_response(ending_of(service, head, [b"a" * MIB] * SENT_BODY_MIB).data).status
        for _ in range(5)
    ]

    assert statuses == [413] * 5
    assert rss_bytes(service.pid) - before < MAX_RSS_GROWTH
    assert http_status(service.url + "/health") == 200


@pytest.mark.parametrize("mib", [8, 32])
def test_client_that_sends_its_whole_big_body_first_still_reads_the_413(
    service: ServiceProcess, service_name: str, mib: int
) -> None:
    # urllib sends the whole body, then reads: a server that closed with unread input
    # would reset the connection and the answer would be lost.
    request = urllib.request.Request(
        service.url + MAIN_ROUTE[service_name],
        data=b"a" * (mib * MIB),
        headers={"Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=RECOVERY_GUARD_S * 2)

    assert answered.value.code == 413
    assert json.loads(answered.value.read()) == {"detail": "Request body too large"}


def test_chunked_body_over_limit_gets_413(service: ServiceProcess, service_name: str) -> None:
    headers = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    head = request_head("POST", MAIN_ROUTE[service_name], headers)
    chunk = f"{MIB:x}\r\n".encode() + b"a" * MIB + b"\r\n"

    ending = ending_of(service, head, [chunk] * 8)

    response = parse_response(ending.data)
    assert response.status == 413
    assert response.json() == {"detail": "Request body too large"}


# Connection count.
@dataclass(frozen=True)
class Crowding:
    """What happened with MAX_CONNECTIONS idle connections open and more coming."""

    refused: list[Ending]
    """What each connection over the limit got, in order (the first: MAX_CONNECTIONS + 1)."""
    idle_still_open: int
    """How many of the idle connections were still open, and sent nothing, after them."""
    log: str
    """The service's log once every refused connection had its answer."""
    status_after_idle_closed: int | None
    """/health once the idle connections are closed."""


def first_status_200(url: str, guard_s: float) -> int | None:
    """GET `url` until it answers 200 or `guard_s` pass; the last status."""
    deadline = time.monotonic() + guard_s
    while (status := http_status(url)) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    return status


@pytest.fixture(scope="module")
def crowding(
    service_name: str, base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Crowding:
    """A fresh service with MAX_CONNECTIONS=8: 8 idle connections, then 20 more, then the
    idle ones closed. The header timeout is long so the idle ones stay open meanwhile."""
    env = base_env | {"MAX_CONNECTIONS": str(MAX_CONNECTIONS), "HEADER_TIMEOUT_S": "60"}
    log_dir = tmp_path_factory.mktemp(f"{service_name}-crowded")
    with running(service_name, env, log_dir) as process:
        with ExitStack() as idle_connections:
            idle = [
                idle_connections.enter_context(connect(process.port))
                for _ in range(MAX_CONNECTIONS)
            ]
            refused = []
            for _ in range(EXTRA_CONNECTIONS):
                with connect(process.port) as extra:
                    refused.append(read_until_closed(extra))
            idle_still_open = sum(is_quiet_for(sock, 0) for sock in idle)
            log = process.log_text()
        status = first_status_200(process.url + "/health", RECOVERY_GUARD_S)
    return Crowding(refused, idle_still_open, log, status)


def test_connection_over_max_connections_gets_503_and_close(crowding: Crowding) -> None:
    response = parse_response(crowding.refused[0].data)

    assert crowding.refused[0].data.startswith(b"HTTP/1.1 503 ")
    assert response.json() == {"detail": "Too many connections"}
    assert response.headers["connection"] == "close"


def test_every_connection_over_max_connections_is_refused(crowding: Crowding) -> None:
    statuses = [parse_response(ending.data).status for ending in crowding.refused]

    assert statuses == [503] * EXTRA_CONNECTIONS


def test_connections_within_max_connections_stay_open(crowding: Crowding) -> None:
    assert crowding.idle_still_open == MAX_CONNECTIONS


def test_refused_connections_are_logged_in_a_few_warning_lines(crowding: Crowding) -> None:
    lines = [
        line
        for line in crowding.log.splitlines()
        if "WARNING" in line and "MAX_CONNECTIONS" in line
    ]

    assert 1 <= len(lines) <= 3, crowding.log


def test_connections_are_accepted_again_once_idle_ones_close(crowding: Crowding) -> None:
    assert crowding.status_after_idle_closed == 200


# Several workers.
def test_header_limit_reaches_every_worker_process(tmp_path: Path) -> None:
    env = {
        "SERVICE_B_URL": f"http://127.0.0.1:{free_port()}",
        "ACCESS_LOG": "false",
        "WORKERS": "2",
        "MAX_HEADER_BYTES": "2048",
    }
    with running("service_a", env, tmp_path) as gateway:
        # Under the default limit, over the configured one; several connections, so that
        # both workers are likely to take some.
        statuses = [
            parse_response(ending_of(gateway, head_of_size(4096), []).data).status for _ in range(8)
        ]

    assert statuses == [431] * 8


def test_refusal_after_a_timeout_is_logged_at_once(
    service_name: str, base_env: dict[str, str], tmp_path: Path
) -> None:
    env = base_env | {"MAX_CONNECTIONS": "2", "HEADER_TIMEOUT_S": "1"}
    with running(service_name, env, tmp_path) as process:
        with connect(process.port) as silent:  # closed by the header timeout: an INFO event
            read_until_closed(silent)
        with connect(process.port), connect(process.port), connect(process.port) as third:
            refused = parse_response(read_until_closed(third).data).status
        deadline = time.monotonic() + RECOVERY_GUARD_S
        while "Connection limit reached" not in process.log_text():
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        log = process.log_text()

    assert refused == 503
    assert "WARNING" in log
    assert "Connection limit reached" in log
