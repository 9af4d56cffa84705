"""The gateway in front of a real predictor that fails: killed (SIGKILL) and started again,
frozen (SIGSTOP) and thawed, not running at all; under load from keep-alive clients.

What is asserted is what the clients see and in which order (README, Resilience and
graceful shutdown): 503 at once while the circuit breaker is open, 504 only for calls
stuck in a frozen predictor, forwarding back to 200 by itself once the predictor is
ready. Times are guards only; how fast any of it happens is the benchmark's business.
"""

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devkit.processes import ServiceProcess
from tests.support.load import Answer, Load, outcome_counts
from tests.support.services import Services

pytestmark = pytest.mark.integration

FORWARD = {"data": "my dog loves to fetch the ball", "forward_to_model": True}
LOG_ONLY = {"data": "my dog loves to fetch the ball", "forward_to_model": False}
CONCURRENCY = 8
PAUSE_S = 0.01  # between a client's requests: load, without taking both cores
QUIET = {"ACCESS_LOG": "false"}
BREAKER_FAILURES = 5
BREAKER_OPEN_S = 2.0
BREAKER_MAX_OPEN_S = 30.0
BREAKER = {
    "BREAKER_FAILURES": str(BREAKER_FAILURES),
    "BREAKER_OPEN_S": str(BREAKER_OPEN_S),
    "BREAKER_MAX_OPEN_S": str(BREAKER_MAX_OPEN_S),
}
READ_TIMEOUT_S = 1.0
WARM_UP_200S = 20  # forwarded answers before a fault
SETTLED_200S = 20  # forwarded answers after recovery, to see that it holds
DOWN_S = 3.0  # how long the killed predictor stays down
OPEN_WHILE_FROZEN_S = 4.5  # between the breaker's first probe (+2 s) and its second (+6 s)
REORDER_MARGIN_S = 0.5  # requests sent this close to an event may be handled either side
GUARD_S = 15.0  # bounds each wait; things happen well within it, or the test fails
HEALTH_PROBE_INTERVAL_S = 0.1


def body(payload: dict[str, object]) -> bytes:
    return json.dumps(payload).encode()


def sent_between(answers: list[Answer], start: float, end: float) -> list[Answer]:
    return [a for a in answers if start <= a.sent_at < end]


def first_sent_after(answers: list[Answer], outcome: int, after: float) -> Answer | None:
    """The answer with `outcome` to the earliest request sent at or after `after`."""
    matching = [a for a in answers if a.outcome == outcome and a.sent_at >= after]
    return min(matching, key=lambda a: a.sent_at, default=None)


def has_sent_after(outcome: int, after: float, count: int = 1) -> Callable[[list[Answer]], bool]:
    """A condition: `count` answers with `outcome`, to requests sent at or after `after`."""
    return lambda answers: (
        sum(a.outcome == outcome and a.sent_at >= after for a in answers) >= count
    )


def wait_for_recovery(load: Load, after: float, guard_s: float) -> None:
    """Wait (up to `guard_s`) for a 200 to a request sent after `after`, then for
    SETTLED_200S more after it came (and a margin for requests in flight meanwhile)."""
    if load.wait_until(has_sent_after(200, after), guard_s):
        first = first_sent_after(load.answers, 200, after)
        assert first is not None
        settled = has_sent_after(200, first.answered_at, SETTLED_200S + CONCURRENCY)
        load.wait_until(settled, GUARD_S)


def warning_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING " in line]


def breaker_lines(log: str, change: str) -> list[str]:
    return [line for line in log.splitlines() if "Circuit breaker" in line and change in line]


# The predictor killed under load, then started again on the same port.
@dataclass(frozen=True)
class KilledPredictor:
    answers: list[Answer]
    killed_at: float
    restarted_at: float
    """When the new predictor process was started."""
    ready_at: float
    """When the new predictor's /ready first answered 200."""
    gateway_log: str


@pytest.fixture(scope="module")
def killed_predictor(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> KilledPredictor:
    services = Services(model_dir, tmp_path_factory.mktemp("killed-predictor"))
    try:
        predictor = services.start("service_b", **QUIET)
        gateway = services.start("service_a", **QUIET, **BREAKER)
        with Load(
            gateway.url + "/process", body(FORWARD), concurrency=CONCURRENCY, pause_s=PAUSE_S
        ) as load:
            assert load.wait_until(has_sent_after(200, 0.0, WARM_UP_200S), GUARD_S), load.answers
            killed_at = time.monotonic()
            predictor.kill()
            time.sleep(DOWN_S)
            restarted_at = time.monotonic()
            services.start("service_b", **QUIET)  # same port; returns once /ready is 200
            ready_at = time.monotonic()
            wait_for_recovery(load, ready_at, GUARD_S)
            answers = load.stop()
        return KilledPredictor(answers, killed_at, restarted_at, ready_at, gateway.log_text())
    finally:
        services.stop_all()


def test_clients_see_only_200_and_503_while_predictor_is_killed_and_restarted(
    killed_predictor: KilledPredictor,
) -> None:
    counts = outcome_counts(killed_predictor.answers)

    assert set(counts) == {200, 503}, counts


def test_answers_before_predictor_is_killed_are_200(killed_predictor: KilledPredictor) -> None:
    before = [a for a in killed_predictor.answers if a.answered_at < killed_predictor.killed_at]

    assert len(before) >= WARM_UP_200S
    assert {a.outcome for a in before} == {200}


def test_inputs_sent_while_predictor_is_down_get_503(killed_predictor: KilledPredictor) -> None:
    down = sent_between(
        killed_predictor.answers, killed_predictor.killed_at, killed_predictor.restarted_at
    )

    assert down
    assert {a.outcome for a in down} == {503}


def test_forwarding_returns_to_200_once_restarted_predictor_is_ready(
    killed_predictor: KilledPredictor,
) -> None:
    first_200 = first_sent_after(killed_predictor.answers, 200, killed_predictor.ready_at)

    assert first_200 is not None
    assert first_200.sent_at - killed_predictor.ready_at < GUARD_S


def test_inputs_sent_after_recovery_get_200(killed_predictor: KilledPredictor) -> None:
    first_200 = first_sent_after(killed_predictor.answers, 200, killed_predictor.ready_at)
    assert first_200 is not None
    after = [a for a in killed_predictor.answers if a.sent_at >= first_200.answered_at]

    assert len(after) >= SETTLED_200S
    assert {a.outcome for a in after} == {200}


def test_breaker_opening_and_closing_are_logged(killed_predictor: KilledPredictor) -> None:
    log = killed_predictor.gateway_log

    assert any(" WARNING " in line for line in breaker_lines(log, "closed -> open")), log
    assert breaker_lines(log, "-> closed"), log


def test_refused_calls_are_not_logged_one_by_one(killed_predictor: KilledPredictor) -> None:
    refused = outcome_counts(killed_predictor.answers)[503]
    warnings = warning_lines(killed_predictor.gateway_log)

    assert refused >= 100  # enough for the comparison to mean something
    assert len(warnings) * 10 <= refused, warnings


# The predictor frozen (SIGSTOP) under load, then thawed (SIGCONT).
@dataclass(frozen=True)
class FrozenPredictor:
    answers: list[Answer]
    health: list[Answer]
    """The gateway's /health, probed from a client of its own meanwhile."""
    stopped_at: float
    continued_at: float
    gateway_log: str

    @property
    def first_503(self) -> Answer:
        answer = first_sent_after(self.answers, 503, self.stopped_at)
        assert answer is not None, outcome_counts(self.answers)
        return answer


@pytest.fixture(scope="module")
def frozen_predictor(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FrozenPredictor:
    services = Services(model_dir, tmp_path_factory.mktemp("frozen-predictor"))
    try:
        predictor = services.start("service_b", **QUIET)
        gateway = services.start(
            "service_a", **QUIET, **BREAKER, SERVICE_B_READ_TIMEOUT=str(READ_TIMEOUT_S)
        )
        with (
            Load(
                gateway.url + "/process", body(FORWARD), concurrency=CONCURRENCY, pause_s=PAUSE_S
            ) as load,
            Load(
                gateway.url + "/health",
                concurrency=1,
                pause_s=HEALTH_PROBE_INTERVAL_S,
                timeout_s=READ_TIMEOUT_S * 3,
            ) as health,
        ):
            assert load.wait_until(has_sent_after(200, 0.0, WARM_UP_200S), GUARD_S), load.answers
            stopped_at = time.monotonic()
            os.kill(predictor.pid, signal.SIGSTOP)
            try:
                if load.wait_until(has_sent_after(503, stopped_at), GUARD_S):
                    time.sleep(OPEN_WHILE_FROZEN_S)
            finally:
                os.kill(predictor.pid, signal.SIGCONT)
            continued_at = time.monotonic()
            wait_for_recovery(load, continued_at, BREAKER_MAX_OPEN_S + GUARD_S)
            answers = load.stop()
            health_answers = health.stop()
        return FrozenPredictor(
            answers, health_answers, stopped_at, continued_at, gateway.log_text()
        )
    finally:
        services.stop_all()


def test_clients_see_only_200_503_and_504_around_a_frozen_predictor(
    frozen_predictor: FrozenPredictor,
) -> None:
    counts = outcome_counts(frozen_predictor.answers)

    assert set(counts) == {200, 503, 504}, counts


def test_calls_stuck_in_frozen_predictor_end_as_504_before_any_503(
    frozen_predictor: FrozenPredictor,
) -> None:
    stuck = [
        a
        for a in frozen_predictor.answers
        if a.answered_at >= frozen_predictor.stopped_at
        and a.sent_at < frozen_predictor.first_503.sent_at
    ]
    first_failure = min(
        (a for a in frozen_predictor.answers if a.outcome != 200), key=lambda a: a.sent_at
    )

    assert first_failure.outcome == 504
    assert {a.outcome for a in stuck} <= {200, 504}
    assert sum(a.outcome == 504 for a in stuck) >= 1


def test_calls_sent_after_breaker_opened_get_503_except_its_probes(
    frozen_predictor: FrozenPredictor,
) -> None:
    late = sent_between(
        frozen_predictor.answers,
        frozen_predictor.first_503.sent_at + REORDER_MARGIN_S,
        frozen_predictor.continued_at,
    )
    failed_probes = breaker_lines(frozen_predictor.gateway_log, "the probe failed")
    counts = outcome_counts(late)

    assert set(counts) <= {503, 504}, counts
    assert counts[503] >= 1
    assert counts[504] <= len(failed_probes), (counts, failed_probes)


def test_gateway_health_answers_200_while_predictor_is_frozen(
    frozen_predictor: FrozenPredictor,
) -> None:
    frozen = sent_between(
        frozen_predictor.health, frozen_predictor.stopped_at, frozen_predictor.continued_at
    )

    assert len(frozen) >= 5
    assert {a.outcome for a in frozen_predictor.health} == {200}, outcome_counts(
        frozen_predictor.health
    )


def test_forwarding_returns_to_200_after_predictor_is_thawed(
    frozen_predictor: FrozenPredictor,
) -> None:
    first_200 = first_sent_after(frozen_predictor.answers, 200, frozen_predictor.continued_at)

    assert first_200 is not None
    assert first_200.sent_at - frozen_predictor.continued_at < BREAKER_MAX_OPEN_S + GUARD_S
    after = [a for a in frozen_predictor.answers if a.sent_at >= first_200.answered_at]
    assert len(after) >= SETTLED_200S
    assert {a.outcome for a in after} == {200}


# No predictor at all: nothing listens on its port.
@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=GUARD_S) as client:
        yield client


UNREACHABLE_OPEN_S = 5.0  # long enough that the breaker is still open when checked


@pytest.fixture
def gateway_with_open_breaker(services: Services, http: httpx.Client) -> ServiceProcess:
    """A gateway whose predictor is not running, after BREAKER_FAILURES refused calls."""
    gateway = services.start(
        "service_a", **QUIET, **(BREAKER | {"BREAKER_OPEN_S": str(UNREACHABLE_OPEN_S)})
    )
    statuses = [
        http.post(f"{gateway.url}/process", json=FORWARD).status_code
        for _ in range(BREAKER_FAILURES)
    ]
    assert statuses == [503] * BREAKER_FAILURES
    return gateway


def test_ready_is_503_with_breaker_open_when_predictor_is_not_running(
    gateway_with_open_breaker: ServiceProcess, services: Services, http: httpx.Client
) -> None:
    response = http.get(f"{gateway_with_open_breaker.url}/ready")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service B is not ready",
        "breaker": "open",
        "replicas": [
            {
                "address": f"127.0.0.1:{services.ports['service_b']}",
                "name": None,
                "state": "not_ready",
                "breaker": "open",
            }
        ],
    }


def test_forwarded_input_gets_503_with_retry_after_until_next_probe(
    gateway_with_open_breaker: ServiceProcess, http: httpx.Client
) -> None:
    response = http.post(f"{gateway_with_open_breaker.url}/process", json=FORWARD)

    assert response.status_code == 503
    assert response.json() == {"detail": "Service B is unavailable"}
    assert 1 <= int(response.headers["retry-after"]) <= UNREACHABLE_OPEN_S


def test_logged_only_input_gets_200_while_breaker_is_open(
    gateway_with_open_breaker: ServiceProcess, http: httpx.Client
) -> None:
    response = http.post(f"{gateway_with_open_breaker.url}/process", json=LOG_ONLY)

    assert response.status_code == 200
    assert response.json() == {"status": "Input logged successfully"}
