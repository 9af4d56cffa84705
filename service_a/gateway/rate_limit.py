"""The gateway's rate limit: RATE_LIMIT per caller, counted by the `limits` package in this
process's memory or in Redis, and the 429 that tells the caller when to come back.

A storage that fails (Redis down, or slower than RATE_LIMIT_STORAGE_TIMEOUT_S) lets the
request through: the limit protects the predictor, and losing it for a while is better
than refusing every caller. The outage is logged when it starts and when it ends.
"""

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import redis
from limits import RateLimitItem, WindowStats
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError

from gateway.access_settings import redis_py_url, shown_url
from gateway.config import MEMORY_STORAGE, Settings
from gateway.errors import RateLimited
from gateway.metrics import GatewayMetrics
from service_common.errors import StartupError

logger = logging.getLogger("gateway.rate_limit")

REDIS_CLIENT: Final = "redispy"
"""The `redis` package (redis-py) is the client `limits` drives; coredis is not installed."""


Strategy = type[SlidingWindowCounterRateLimiter | FixedWindowRateLimiter | MovingWindowRateLimiter]
STRATEGIES: dict[str, Strategy] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}
"""RATE_LIMIT_STRATEGY's values."""


def policy_name(item: RateLimitItem) -> str:
    """A limit's name in the RateLimit headers: `100 per 1 second`, `10 per 2 minutes`."""
    unit = item.GRANULARITY.name + ("s" if item.multiples != 1 else "")
    return f"{item.amount} per {item.multiples} {unit}"


def policy_header(items: tuple[RateLimitItem, ...]) -> str:
    """RateLimit-Policy (IETF httpapi draft): each limit's quota `q` and window `w` (s)."""
    return ", ".join(
        f'"{policy_name(item)}";q={item.amount};w={item.get_expiry()}' for item in items
    )


class Counts:
    """Each caller's counts, in `storage`: this process's memory, or Redis."""

    def __init__(self, strategy: str, storage: Storage) -> None:
        self._limiter = STRATEGIES[strategy](storage)

    async def over_limit(self, item: RateLimitItem, caller: str) -> WindowStats | None:
        """Count a request; the window's state if that was over the limit, else None."""
        if await self._limiter.hit(item, caller):
            return None
        return await self._limiter.get_window_stats(item, caller)


class RateLimiter:
    """Counts each caller's requests against every limit of RATE_LIMIT."""

    def __init__(
        self,
        items: tuple[RateLimitItem, ...],
        counts: Counts,
        storage_timeout: float | None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        """`storage_timeout`: seconds the storage may take to count a request, all its
        limits together (None: a storage that cannot hang, memory)."""
        # Shortest window first: a request that one limit refuses is counted only by the
        # limits checked before it, which then forget it soonest.
        self._items = tuple(sorted(items, key=lambda item: item.get_expiry()))
        self._counts = counts
        self._storage_timeout = storage_timeout
        self._metrics = metrics
        self._policy = policy_header(items)
        self._storage_failing = False

    async def admit(self, caller: str) -> None:
        """Count one request of `caller`; RateLimited if that is over any limit."""
        try:
            if self._storage_timeout is None:
                refused = await self._first_over_limit(caller)
            else:
                async with asyncio.timeout(self._storage_timeout):
                    refused = await self._first_over_limit(caller)
        except (StorageError, TimeoutError) as error:
            self._storage_failed(error)
            return
        if self._storage_failing:
            self._storage_answered()
        if refused is not None:
            item, over = refused
            retry_after = max(1, math.ceil(over.reset_time - time.time()))
            raise RateLimited(
                retry_after,
                {
                    "RateLimit-Policy": self._policy,
                    "RateLimit": f'"{policy_name(item)}";r={over.remaining};t={retry_after}',
                },
            )

    async def _first_over_limit(self, caller: str) -> tuple[RateLimitItem, WindowStats] | None:
        for item in self._items:
            over = await self._counts.over_limit(item, caller)
            if over is not None:
                return item, over
        return None

    def _storage_failed(self, error: Exception) -> None:
        if self._metrics is not None:
            self._metrics.rate_limit_storage_error()
        if not self._storage_failing:
            self._storage_failing = True
            cause = type(getattr(error, "storage_error", None) or error).__name__
            logger.error("Rate-limit storage failed (%s): requests are let through", cause)

    def _storage_answered(self) -> None:
        self._storage_failing = False
        logger.warning("Rate-limit storage answers again: the limit applies")


@asynccontextmanager
async def open_rate_limiter(
    settings: Settings, metrics: GatewayMetrics | None = None
) -> AsyncIterator[RateLimiter | None]:
    """The rate limiter of RATE_LIMIT (None when it is unset), with its storage; a Redis
    storage is checked once (a WARNING if it does not answer) and closed at the end."""
    if not settings.rate_limits:
        yield None
        return
    url = settings.RATE_LIMIT_STORAGE.get_secret_value()
    if url == MEMORY_STORAGE:
        yield RateLimiter(
            settings.rate_limits,
            Counts(settings.RATE_LIMIT_STRATEGY, MemoryStorage()),
            None,
            metrics,
        )
        return
    timeout = settings.RATE_LIMIT_STORAGE_TIMEOUT_S
    storage = RedisStorage(
        f"async+{url}",
        implementation=REDIS_CLIENT,
        wrap_exceptions=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    try:
        async with asyncio.timeout(timeout):
            reachable = await storage.check()
    except TimeoutError:
        reachable = False
    if not reachable:
        logger.warning(
            "RATE_LIMIT_STORAGE %s does not answer: requests are let through until it does",
            shown_url(url),
        )
    try:
        yield RateLimiter(
            settings.rate_limits,
            Counts(settings.RATE_LIMIT_STRATEGY, storage),
            timeout,
            metrics,
        )
    finally:
        await storage.bridge.storage.aclose()  # type: ignore[attr-defined]


def refuse_unusable_redis(settings: Settings) -> None:
    """Before serving: a StartupError if the Redis of RATE_LIMIT_STORAGE answers but
    refuses the gateway (a wrong password, a database it does not have), which waiting
    would not mend. A Redis that does not answer is not refused: the limit is let go
    until it does (see open_rate_limiter)."""
    url = settings.RATE_LIMIT_STORAGE.get_secret_value()
    if not settings.rate_limits or url == MEMORY_STORAGE:
        return
    timeout = settings.RATE_LIMIT_STORAGE_TIMEOUT_S
    client = redis.Redis.from_url(
        redis_py_url(url),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    try:
        client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as error:
        raise StartupError(
            f"Invalid setting RATE_LIMIT_STORAGE: {shown_url(url)} refuses the gateway: "
            f"{type(error).__name__}: {error}"
        ) from None
    except redis.RedisError:
        pass  # not answering: open_rate_limiter warns
    finally:
        client.close()
