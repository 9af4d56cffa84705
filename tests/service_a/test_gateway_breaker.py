"""The circuit breaker's state machine, with a clock moved by hand."""

import logging

import pytest

from gateway.breaker import BreakerState, CircuitBreaker
from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    """Opens after 3 failures, for 2 s, doubling up to 7 s."""
    return CircuitBreaker("predictor:8001", 3, open_s=2.0, max_open_s=7.0, clock=clock)


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state now (a call, so that a type checker does not assume it stays put)."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_a_new_breaker_is_closed_and_lets_calls_through(breaker: CircuitBreaker) -> None:
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()


def test_it_opens_after_the_threshold_of_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert state_of(breaker) is BreakerState.CLOSED

    fail(breaker, 1)

    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count_of_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)

    assert state_of(breaker) is BreakerState.CLOSED


def test_a_neutral_answer_resets_the_count_too(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_neutral()  # e.g. a 4xx: the predictor answered
    fail(breaker, 2)

    assert state_of(breaker) is BreakerState.CLOSED


def test_while_open_calls_are_refused_and_counted(breaker: CircuitBreaker) -> None:
    fail(breaker, 3)

    refused = [breaker.allow() for _ in range(5)]

    assert refused == [False] * 5
    assert breaker.refused_while_open == 5


def test_retry_after_is_the_whole_seconds_to_the_probe_at_least_one(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    assert breaker.retry_after_s() == 2

    clock.now += 1.2
    assert breaker.retry_after_s() == 1
    clock.now += 0.7
    assert breaker.retry_after_s() == 1


def test_after_the_open_time_exactly_one_probe_goes_through(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.now += 2.0

    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert [breaker.allow() for _ in range(3)] == [True, False, False]


def test_a_successful_probe_closes_the_breaker(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.now += 2.0
    assert breaker.allow()

    breaker.record_success()

    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()


def test_a_failed_probe_reopens_it_for_twice_as_long(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.now += 2.0
    fail(breaker, 1)  # the probe

    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 3.9
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 0.1
    assert state_of(breaker) is BreakerState.HALF_OPEN


def test_the_open_time_is_capped(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    for open_s in (2.0, 4.0, 7.0, 7.0):  # 8 would exceed the cap of 7
        clock.now += open_s
        assert state_of(breaker) is BreakerState.HALF_OPEN
        fail(breaker, 1)

    assert breaker.retry_after_s() == 7


def test_closing_again_restores_the_first_open_time(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.now += 2.0
    fail(breaker, 1)
    clock.now += 4.0
    assert breaker.allow()
    breaker.record_success()

    fail(breaker, 3)

    assert breaker.retry_after_s() == 2


def test_failures_of_calls_let_through_before_it_opened_do_not_extend_it(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    started = [breaker.allow() for _ in range(5)]  # five calls in flight at once
    for _ in started:
        breaker.record_failure()

    assert breaker.retry_after_s() == 2
    clock.now += 2.0
    assert state_of(breaker) is BreakerState.HALF_OPEN


def test_each_change_of_state_is_one_log_line_and_refusals_are_not_logged(
    breaker: CircuitBreaker, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.breaker")
    fail(breaker, 3)
    for _ in range(50):
        breaker.allow()
    clock.now += 2.0
    assert breaker.allow()
    breaker.record_success()

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert "closed -> open" in lines[0]
    assert "open -> half_open" in lines[1]
    assert "half_open -> closed" in lines[2]
    assert "50 calls were refused while open" in lines[2]
