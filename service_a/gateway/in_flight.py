"""Load shedding: at most SERVICE_B_MAX_IN_FLIGHT calls to the predictor at once. A call
that cannot get a slot within SERVICE_B_QUEUE_TIMEOUT is refused (503), instead of waiting
out the read timeout behind calls that are already slow."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)

SHED_LOG_INTERVAL_S = 10.0


class NoSlot(Exception):
    """No slot came free in time."""


class InFlightLimiter:
    def __init__(
        self, max_in_flight: int, queue_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queue_timeout = queue_timeout
        self._clock = clock
        self._shed_unlogged = 0
        self._shed_logged_at: float | None = None

    def note_shed(self) -> None:
        """Count a call refused for want of a slot: the first is logged at once, the rest
        in one line per SHED_LOG_INTERVAL_S."""
        self._shed_unlogged += 1
        now = self._clock()
        if self._shed_logged_at is None or now - self._shed_logged_at >= SHED_LOG_INTERVAL_S:
            logger.warning(
                "Shed %d calls to the predictor: all %d slots busy for longer than %g s "
                "(SERVICE_B_MAX_IN_FLIGHT, SERVICE_B_QUEUE_TIMEOUT)",
                self._shed_unlogged,
                self.max_in_flight,
                self._queue_timeout,
            )
            self._shed_unlogged = 0
            self._shed_logged_at = now

    async def acquire(self) -> None:
        """Take a slot (give it back with `release`); NoSlot when none came free in time."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._queue_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise NoSlot() from None
        else:
            await self._slots.acquire()  # free: returns at once, no timer armed

    def release(self) -> None:
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block; NoSlot when none came free in time."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()
