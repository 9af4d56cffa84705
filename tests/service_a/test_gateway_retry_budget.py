"""The retry budget: a share of the calls of the last 10 s."""

from gateway.retry_budget import RetryBudget
from tests.support.clock import ManualClock


def test_retries_are_allowed_up_to_the_ratio_of_calls() -> None:
    budget = RetryBudget(0.2, clock=ManualClock(1000.0))
    for _ in range(10):
        budget.record_call()

    spent = [budget.try_spend() for _ in range(4)]

    assert spent == [True, True, False, False]


def test_no_calls_no_retries() -> None:
    assert not RetryBudget(0.2, clock=ManualClock(1000.0)).try_spend()


def test_a_ratio_of_zero_turns_retries_off() -> None:
    budget = RetryBudget(0.0, clock=ManualClock(1000.0))
    for _ in range(100):
        budget.record_call()

    assert not budget.try_spend()


def test_calls_and_retries_older_than_the_window_no_longer_count() -> None:
    clock = ManualClock(1000.0)
    budget = RetryBudget(0.5, clock=clock)
    for _ in range(4):
        budget.record_call()
    assert budget.try_spend() and budget.try_spend()
    assert not budget.try_spend()

    clock.now += 10
    budget.record_call()
    budget.record_call()

    assert budget.try_spend()
    assert not budget.try_spend()


def test_a_few_retries_are_allowed_before_the_ratio_allows_any() -> None:
    budget = RetryBudget(0.2, min_retries=3, clock=ManualClock(1000.0))
    budget.record_call()

    spent = [budget.try_spend() for _ in range(4)]

    assert spent == [True, True, True, False]


def test_the_minimum_does_not_turn_retries_back_on() -> None:
    budget = RetryBudget(0.0, min_retries=3, clock=ManualClock(1000.0))
    budget.record_call()

    assert not budget.try_spend()
