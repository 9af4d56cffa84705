"""SIGTERM on each service as a real process (README, Resilience and graceful shutdown):
new connections are refused, every request already accepted is answered (with
`Connection: close`), and the process exits 0 within SHUTDOWN_GRACE_S.

Under load, from keep-alive clients: what they receive is 200s, then refused connections;
a client that sends on a kept-alive connection just as the server closes it sees a reset
(HTTP/1.1 has no way to announce that close), so a few are allowed, and printed. With one
slow request, answered by a scripted predictor on loopback: that request, in flight at
SIGTERM, is still answered.

Not checked here: /ready answering 503 during the drain. Only requests already accepted
are served then, and each of those began before SIGTERM (a new connection is refused, a
new request on an accepted one is not read), so no /ready can reach the app during the
drain; the log line of the drain is checked instead.
"""

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, ServiceProcess
from tests.support.gateway import PREDICTION
from tests.support.load import Answer, Load, outcome_counts
from tests.support.loopback import Handler, LoopbackServer, read_request
from tests.support.services import Services

pytestmark = pytest.mark.integration

FORWARD = {"data": "my dog loves to fetch the ball", "forward_to_model": True}
PREDICT = {"input": "my dog loves to fetch the ball"}
READINESS = {"status": "ready", "model_version": "v1"}
QUIET = {"ACCESS_LOG": "false"}
CONCURRENCY = 8
WARM_UP_200S = 50
SHUTDOWN_GRACE_S = 10.0
EXIT_GUARD_S = SHUTDOWN_GRACE_S + 10.0  # the grace period, and time to wind down
GUARD_S = 10.0  # bounds each other wait; things happen well within it, or the test fails
MAX_RESETS = 3
DRAIN_LOG_LINE = "Shutting down: /ready answers 503"
SLOW_PREDICT_S = 2.0


def wait_for_exit(process: ServiceProcess, guard_s: float) -> int | None:
    """The process's exit status once it exits, or None if it is still running after
    `guard_s`."""
    deadline = time.monotonic() + guard_s
    while (status := process.returncode()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


def described(answers: list[Answer], since: float) -> list[str]:
    """The answers, with their times in seconds since `since`, for a failure message."""
    return [
        f"client {a.client}: sent {a.sent_at - since:+.3f} s, answered {a.answered_at - since:+.3f}"
        f" s: {a.outcome} {a.error}"
        for a in answers
    ]


def refusals_after(after: float, count: int) -> Callable[[list[Answer]], bool]:
    return lambda answers: (
        sum(a.outcome == "refused" and a.sent_at >= after for a in answers) >= count
    )


# Each service under load from keep-alive clients.
@dataclass(frozen=True)
class ShutdownUnderLoad:
    answers: list[Answer]
    sigterm_at: float
    exit_status: int | None
    log: str


TARGETS = {"service_a": ("/process", FORWARD), "service_b": ("/predict", PREDICT)}


@pytest.fixture(scope="module", params=sorted(TARGETS))
def shutdown_under_load(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> ShutdownUnderLoad:
    """SIGTERM to the service (the gateway in front of a healthy predictor, or the
    predictor itself) while CONCURRENCY clients keep sending it requests."""
    service: str = request.param
    path, payload = TARGETS[service]
    services = Services(model_dir, tmp_path_factory.mktemp(f"{service}-sigterm"))
    try:
        target = services.start("service_b", **QUIET)
        if service == "service_a":
            target = services.start("service_a", **QUIET)
        with Load(target.url + path, json.dumps(payload).encode(), concurrency=CONCURRENCY) as load:
            warmed_up = load.wait_until(lambda a: len(a) >= WARM_UP_200S, GUARD_S)
            assert warmed_up, outcome_counts(load.answers)
            sigterm_at = time.monotonic()
            os.kill(target.pid, signal.SIGTERM)
            exit_status = wait_for_exit(target, EXIT_GUARD_S)
            # The clients go on: each should now be refused.
            load.wait_until(refusals_after(time.monotonic(), CONCURRENCY), GUARD_S)
            answers = load.stop()
        return ShutdownUnderLoad(answers, sigterm_at, exit_status, target.log_text())
    finally:
        services.stop_all()


def test_service_exits_0_after_sigterm_under_load(shutdown_under_load: ShutdownUnderLoad) -> None:
    assert shutdown_under_load.exit_status == 0, shutdown_under_load.log[-3000:]


def test_every_answer_around_sigterm_is_200(shutdown_under_load: ShutdownUnderLoad) -> None:
    statuses = outcome_counts(a for a in shutdown_under_load.answers if isinstance(a.outcome, int))

    assert set(statuses) == {200}, statuses


def test_requests_in_flight_at_sigterm_are_answered_200(
    shutdown_under_load: ShutdownUnderLoad,
) -> None:
    sigterm_at = shutdown_under_load.sigterm_at
    in_flight = [a for a in shutdown_under_load.answers if a.sent_at < sigterm_at <= a.answered_at]

    unanswered = [a for a in in_flight if a.outcome != 200]

    assert in_flight
    assert not unanswered, described(unanswered, sigterm_at)


def test_clients_see_only_refusals_and_a_few_resets_after_sigterm(
    shutdown_under_load: ShutdownUnderLoad,
) -> None:
    failed = [a for a in shutdown_under_load.answers if not isinstance(a.outcome, int)]
    errors = outcome_counts(failed)
    resets = described(
        [a for a in failed if a.outcome != "refused"], shutdown_under_load.sigterm_at
    )
    print(f"client-side errors after SIGTERM: {dict(errors)}", *resets, sep="\n")

    assert set(errors) <= {"refused", "reset"}, resets
    assert errors["refused"] >= 1
    assert errors["reset"] <= MAX_RESETS, resets


def test_shutdown_under_load_is_logged_without_a_traceback(
    shutdown_under_load: ShutdownUnderLoad,
) -> None:
    assert DRAIN_LOG_LINE in shutdown_under_load.log
    assert "Traceback" not in shutdown_under_load.log, shutdown_under_load.log[-3000:]


# One slow forwarded request in flight at SIGTERM.
@dataclass(frozen=True)
class SlowRequestAtSigterm:
    status: int
    body: object
    connection: str | None
    """The answer's Connection header."""
    refused_while_draining: bool
    """A new connection was refused while the slow request was still in flight."""
    exit_status: int | None
    log: str


def slow_predictor(received: asyncio.Event) -> Handler:
    """A keep-alive predictor that answers /predict SLOW_PREDICT_S after it came (setting
    `received`), and /ready at once."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            predict = (await read_request(reader)).startswith(b"POST /predict ")
            if predict:
                received.set()
                await asyncio.sleep(SLOW_PREDICT_S)
            content = json.dumps(PREDICTION if predict else READINESS).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(content)).encode() + b"\r\n\r\n" + content
            )
            await writer.drain()

    return handle


def is_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


async def refused_before(answer: "asyncio.Task[httpx.Response]", port: int) -> bool:
    """Whether a new connection to `port` is refused before `answer` is done."""
    while not answer.done():
        if await asyncio.to_thread(is_refused, port):
            return not answer.done()
        await asyncio.sleep(0.05)
    return False


async def sigterm_during_slow_request(log_dir: Path) -> SlowRequestAtSigterm:
    received = asyncio.Event()
    async with LoopbackServer(slow_predictor(received)) as predictor:
        env = QUIET | {
            "SERVICE_B_URL": predictor.url,
            "SHUTDOWN_GRACE_S": str(SHUTDOWN_GRACE_S),
        }
        gateway = ServiceProcess("service_a", free_port(), env, log_dir / "service_a.log")
        try:
            await asyncio.to_thread(gateway.start().wait_until_ok, "/health", GATEWAY_READY_TIMEOUT)
            async with httpx.AsyncClient(trust_env=False, timeout=GUARD_S) as http:
                answer = asyncio.create_task(http.post(f"{gateway.url}/process", json=FORWARD))
                async with asyncio.timeout(GUARD_S):
                    await received.wait()
                os.kill(gateway.pid, signal.SIGTERM)
                refused = await refused_before(answer, gateway.port)
                response = await answer
            exit_status = await asyncio.to_thread(wait_for_exit, gateway, EXIT_GUARD_S)
        finally:
            await asyncio.to_thread(gateway.stop)
    return SlowRequestAtSigterm(
        response.status_code,
        response.json(),
        response.headers.get("connection"),
        refused,
        exit_status,
        gateway.log_text(),
    )


@pytest.fixture(scope="module")
def slow_request_at_sigterm(tmp_path_factory: pytest.TempPathFactory) -> SlowRequestAtSigterm:
    """The gateway, in front of a slow scripted predictor, gets SIGTERM while one forwarded
    request waits for the predictor."""
    return asyncio.run(sigterm_during_slow_request(tmp_path_factory.mktemp("slow-sigterm")))


def test_request_in_flight_at_sigterm_is_answered_200(
    slow_request_at_sigterm: SlowRequestAtSigterm,
) -> None:
    assert slow_request_at_sigterm.status == 200
    assert slow_request_at_sigterm.body == {
        "status": "Input logged successfully",
        "model_prediction": PREDICTION,
    }


def test_answer_finished_during_shutdown_carries_connection_close(
    slow_request_at_sigterm: SlowRequestAtSigterm,
) -> None:
    assert slow_request_at_sigterm.connection == "close"


def test_new_connections_are_refused_while_request_is_finishing(
    slow_request_at_sigterm: SlowRequestAtSigterm,
) -> None:
    assert slow_request_at_sigterm.refused_while_draining


def test_gateway_exits_0_after_finishing_request_in_flight(
    slow_request_at_sigterm: SlowRequestAtSigterm,
) -> None:
    assert slow_request_at_sigterm.exit_status == 0, slow_request_at_sigterm.log[-3000:]


def test_shutdown_with_request_in_flight_is_logged_without_a_traceback(
    slow_request_at_sigterm: SlowRequestAtSigterm,
) -> None:
    assert DRAIN_LOG_LINE in slow_request_at_sigterm.log
    assert "Traceback" not in slow_request_at_sigterm.log, slow_request_at_sigterm.log[-3000:]
