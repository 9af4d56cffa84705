"""Load shedding: a bounded number of calls in flight, and a bounded wait for a slot."""

import asyncio
import logging

import pytest

from gateway.in_flight import InFlightLimiter, NoSlot

HANG_GUARD_S = 5.0


async def test_calls_within_the_limit_get_a_slot_at_once() -> None:
    limiter = InFlightLimiter(2, queue_timeout=HANG_GUARD_S * 2)

    async with asyncio.timeout(HANG_GUARD_S), limiter.slot(), limiter.slot():
        pass


async def test_a_call_over_the_limit_is_refused_after_the_queue_timeout() -> None:
    limiter = InFlightLimiter(1, queue_timeout=0.05)
    async with limiter.slot():
        with pytest.raises(NoSlot):
            async with asyncio.timeout(HANG_GUARD_S), limiter.slot():
                pass


async def test_a_waiting_call_gets_the_slot_a_finished_one_frees() -> None:
    limiter = InFlightLimiter(1, queue_timeout=HANG_GUARD_S * 2)
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with limiter.slot():
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with limiter.slot():
            order.append("second in")

    async with asyncio.timeout(HANG_GUARD_S):
        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*tasks)

    assert order == ["first in", "first out", "second in"]


def test_shed_calls_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = InFlightLimiter(4, queue_timeout=1.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="gateway.in_flight")

    for _ in range(100):
        limiter.note_shed()
    now[0] = 10.0
    limiter.note_shed()

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("Shed 1 calls")
    assert messages[1].startswith("Shed 100 calls")
