"""Finding the predictor's replicas: SERVICE_B_URL's host resolved to all its addresses,
again every SERVICE_B_RESOLVE_S, and sooner (every BREAKER_READY_CHECK_S at most) while
every known replica is ejected, so replicas that were replaced are found at once.

IPv4 addresses are used when the name has any, else IPv6 ones (Envoy's V4_PREFERRED):
`localhost` is 127.0.0.1 and ::1, one server, not two replicas. When the name does not
resolve, the replicas known are kept; before any is known, the name itself is called
(and its connect error is what the client's 503 is logged with).
"""

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from gateway.replicas import ReplicaSet

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the host's addresses, in the order to use them."""


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address of `host` (getaddrinfo, off the event loop), IPv4 preferred."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    by_family: dict[int, list[str]] = {socket.AF_INET: [], socket.AF_INET6: []}
    for family, _, _, _, sockaddr in infos:
        addresses = by_family.get(family)
        if addresses is not None and sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    return by_family[socket.AF_INET] or by_family[socket.AF_INET6]


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Discovery:
    """Keeps a ReplicaSet's replicas those its host resolves to."""

    def __init__(
        self,
        replicas: ReplicaSet,
        host: str,
        port: int,
        timeout_s: float,
        resolver: Resolver = resolve_addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout_s`: the longest one resolution may take."""
        self._replicas = replicas
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._resolver = resolver
        self._clock = clock
        self._failing_since: float | None = None

    @property
    def needed(self) -> bool:
        """False for an IP address: there is nothing to resolve."""
        return not is_ip_address(self._host)

    async def refresh(self) -> None:
        """Resolve once and update the replicas; a failure keeps the known ones (logged
        once per outage)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                addresses = await self._resolver(self._host, self._port)
        except (OSError, TimeoutError) as error:
            problem = "timed out" if isinstance(error, TimeoutError) else str(error)
            if self._failing_since is None:
                self._failing_since = self._clock()
                logger.warning(
                    "Cannot resolve the predictor's host %s (%s); keeping %s",
                    self._host,
                    problem,
                    ", ".join(r.address for r in self._replicas.replicas),
                )
            return
        if not addresses:
            return
        if self._failing_since is not None:
            logger.info(
                "The predictor's host %s resolves again (after %.1f s)",
                self._host,
                self._clock() - self._failing_since,
            )
            self._failing_since = None
        self._replicas.update(addresses)

    async def run(self, every_s: float, while_ejected_s: float) -> None:
        """Refresh every `every_s`, or every `while_ejected_s` while all replicas are
        ejected; until cancelled."""
        last = self._clock()
        while True:
            await asyncio.sleep(min(every_s, while_ejected_s))
            now = self._clock()
            if now - last >= every_s or self._replicas.all_ejected():
                last = now
                await self.refresh()
