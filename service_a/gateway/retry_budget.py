"""How many retries the gateway may make: a share of its recent calls, so that retries can
never multiply the load on a predictor that is struggling (Envoy's retry budget)."""

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 10


class RetryBudget:
    """At most `ratio` of the calls of the last WINDOW_S seconds may be retries, or
    `min_retries` when that is more (a ratio of 0 allows none): a gateway that has made
    few calls, just started, can still retry a call a dead replica refused."""

    def __init__(
        self, ratio: float, min_retries: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ratio = ratio
        self._min_retries = min_retries if ratio > 0 else 0
        self._clock = clock
        # One [second, calls, retries] entry per second that saw a call, oldest first.
        self._seconds: deque[list[int]] = deque()
        self._calls = 0
        self._retries = 0

    def record_call(self) -> None:
        self._current()[1] += 1
        self._calls += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget, if the recent calls leave room for it."""
        entry = self._current()
        allowed = max(self._min_retries, math.floor(self._ratio * self._calls))
        if self._retries + 1 > allowed:
            return False
        entry[2] += 1
        self._retries += 1
        return True

    def _current(self) -> list[int]:
        now = int(self._clock())
        while self._seconds and self._seconds[0][0] <= now - WINDOW_S:
            _, calls, retries = self._seconds.popleft()
            self._calls -= calls
            self._retries -= retries
        if not self._seconds or self._seconds[-1][0] != now:
            self._seconds.append([now, 0, 0])
        return self._seconds[-1]
