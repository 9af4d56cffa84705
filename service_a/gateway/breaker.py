"""A circuit breaker for one upstream address: after a run of failures, calls are refused
at once instead of paying for a connect attempt or a timeout each, and one probe at a
time finds out when the upstream is back (as Envoy's outlier detection does).

closed --(BREAKER_FAILURES consecutive failures)--> open
open --(open time elapsed, or the upstream's readiness check passed)--> half_open: the next
call is the one probe
half_open --(probe succeeds)--> closed; --(probe fails)--> open, for twice as long
(capped at BREAKER_MAX_OPEN_S).
"""

import logging
import math
import time
from collections.abc import Callable
from enum import StrEnum

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one upstream; not thread-safe (one event loop uses it)."""

    def __init__(
        self,
        upstream: str,
        failure_threshold: int,
        open_s: float,
        max_open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self._failure_threshold = failure_threshold
        self._base_open_s = open_s
        self._max_open_s = max_open_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._open_s = open_s
        self._open_until = 0.0
        self._probe_in_flight = False
        self.refused_while_open = 0
        """Calls refused since the breaker last opened (logged when it changes state)."""

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose time is up reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            return BreakerState.HALF_OPEN
        return self._state

    def probe_now(self) -> None:
        """The upstream says it is ready again: let the next call probe it, without waiting
        for the (backed-off) open time to end."""
        if self._state is BreakerState.OPEN:
            self._open_until = min(self._open_until, self._clock())

    def retry_after_s(self) -> int:
        """Whole seconds until the next probe may go, at least 1."""
        return max(1, math.ceil(self._open_until - self._clock()))

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, only the one probe may."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            if self._state is BreakerState.OPEN:
                self._change(BreakerState.HALF_OPEN)
            self._probe_in_flight = True
            return True
        self.refused_while_open += 1
        return False

    def release(self) -> None:
        """The call `allow` let through was not made after all (it found no slot)."""
        if self._state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False

    def record_success(self) -> None:
        self._consecutive_failures = 0
        if self._state is not BreakerState.CLOSED:
            self._probe_in_flight = False
            self._open_s = self._base_open_s
            self._change(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A failure of the upstream itself: refused, reset, timed out or answered 503."""
        if self._state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False
            self._open_s = min(self._open_s * 2, self._max_open_s)
            self._open(f"the probe failed; next probe in {self._open_s:g} s")
            return
        if self._state is BreakerState.OPEN:
            return  # a call that was let through before the breaker opened
        self._consecutive_failures += 1
        if self._consecutive_failures >= self._failure_threshold:
            self._open(
                f"{self._consecutive_failures} consecutive failures; next probe in "
                f"{self._open_s:g} s"
            )

    def record_neutral(self) -> None:
        """A call that says nothing of the upstream's health (it answered, if oddly)."""
        if self._state is BreakerState.HALF_OPEN:
            self.record_success()
        else:
            self._consecutive_failures = 0

    def _open(self, reason: str) -> None:
        self._open_until = self._clock() + self._open_s
        self._change(BreakerState.OPEN, reason)

    def _change(self, state: BreakerState, reason: str = "") -> None:
        previous, self._state = self._state, state
        refused = self.refused_while_open
        if state is BreakerState.OPEN:
            self.refused_while_open = 0
        logger.log(
            logging.WARNING if state is BreakerState.OPEN else logging.INFO,
            "Circuit breaker for %s: %s -> %s%s%s",
            self.upstream,
            previous.value,
            state.value,
            f" ({reason})" if reason else "",
            f"; {refused} calls were refused while open"
            if previous is BreakerState.HALF_OPEN and refused
            else "",
        )
