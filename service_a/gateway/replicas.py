"""The predictor's replicas as the gateway knows them, and which one gets the next call.

SERVICE_B_URL's host may name several replicas (a compose service scaled up, a Swarm
service with `endpoint_mode: dnsrr`, a Kubernetes headless Service): discovery
(`gateway.discovery`) resolves it to every address, and each address is a replica with its
own circuit breaker and its own pooled connections (the pool keeps them per address).

A call goes to, in this order:
1. a replica whose breaker is half-open and has no probe out: the probe (if it fails, the
   call is retried on another replica, so a probe costs the client nothing);
2. else the replica with the fewest calls outstanding among those whose breaker is
   closed, taking turns among equals (round robin), as Envoy's least-request balancer.
A replica whose breaker is open gets no calls: it is ejected until its breaker lets a
probe through.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from gateway.breaker import BreakerState, CircuitBreaker

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Replica:
    """One address of the predictor; `outstanding` counts its calls in progress."""

    address: str
    """`host:port` as called: an IP address, or the configured name while none is known."""
    base_url: httpx.URL
    breaker: CircuitBreaker | None
    outstanding: int = 0
    predict_url: httpx.URL = field(init=False)
    ready_url: httpx.URL = field(init=False)

    def __post_init__(self) -> None:
        base_path = self.base_url.path.rstrip("/")
        self.predict_url = self.base_url.copy_with(path=f"{base_path}/predict")
        self.ready_url = self.base_url.copy_with(path=f"{base_path}/ready")

    @property
    def breaker_state(self) -> BreakerState | None:
        return self.breaker.state if self.breaker else None

    def version_url(self, version: str) -> httpx.URL:
        # Built per call: caching one URL per version a client names would grow unbounded.
        return self.base_url.copy_with(
            path=f"{self.base_url.path.rstrip('/')}/models/{version}/predict"
        )


def address_of(url: httpx.URL, host: str) -> str:
    """`host:port` of `url` with its host replaced by `host` (IPv6 in brackets)."""
    return url.copy_with(host=host).netloc.decode("ascii")


class ReplicaSet:
    """The known replicas, and the choice of one for each call; one event loop uses it."""

    def __init__(
        self,
        base_url: httpx.URL,
        new_breaker: Callable[[str], CircuitBreaker | None],
    ) -> None:
        """Starts with one replica, the configured host itself, until `update` is called."""
        self._base_url = base_url
        self._new_breaker = new_breaker
        self._replicas: list[Replica] = []
        self._turn = 0
        self.update([base_url.host])

    @property
    def replicas(self) -> tuple[Replica, ...]:
        return tuple(self._replicas)

    @property
    def name(self) -> str:
        """The configured `host:port` (what logs and the Host header name)."""
        return self._base_url.netloc.decode("ascii")

    def update(self, hosts: Iterable[str]) -> None:
        """Make the replicas those at `hosts` (addresses, in the resolver's order): a known
        one keeps its breaker and its count, a new one starts closed, a gone one gets no
        more calls (those in progress finish)."""
        known = {replica.address: replica for replica in self._replicas}
        updated: list[Replica] = []
        for host in hosts:
            address = address_of(self._base_url, host)
            replica = known.pop(address, None)
            if replica is None and address not in (r.address for r in updated):
                url = self._base_url.copy_with(host=host)
                replica = Replica(address, url, self._new_breaker(address))
            if replica is not None:
                updated.append(replica)
        if not updated:
            return
        previous = {replica.address for replica in self._replicas}
        added = [replica.address for replica in updated if replica.address not in previous]
        if previous and (added or known):
            logger.info(
                "Predictor replicas of %s: %d known%s%s",
                self.name,
                len(updated),
                f"; added {', '.join(added)}" if added else "",
                f"; removed {', '.join(known)}" if known else "",
            )
        self._replicas = updated
        self._turn %= len(updated)

    def choose(self, avoid: Replica | None = None) -> Replica | None:
        """The replica for the next call, its breaker told (`allow`), or None when every
        replica (but `avoid`) is ejected."""
        replicas = self._replicas
        count = len(replicas)
        best: Replica | None = None
        best_index = 0
        for offset in range(count):
            index = (self._turn + offset) % count
            replica = replicas[index]
            if replica is avoid:
                continue
            breaker = replica.breaker
            if breaker is not None:
                state = breaker.state
                if state is not BreakerState.CLOSED:
                    if state is BreakerState.HALF_OPEN and breaker.allow():
                        return replica
                    continue
            if best is None or replica.outstanding < best.outstanding:
                best, best_index = replica, index
        if best is None:
            return None
        if best.breaker is not None:
            best.breaker.allow()
        self._turn = (best_index + 1) % count
        return best

    def all_ejected(self) -> bool:
        """Whether every replica's breaker is open (no call could go now)."""
        return all(
            replica.breaker is not None and replica.breaker.state is BreakerState.OPEN
            for replica in self._replicas
        )

    def retry_after_s(self) -> int:
        """Whole seconds until the first ejected replica may be probed, at least 1."""
        return min(
            (r.breaker.retry_after_s() for r in self._replicas if r.breaker is not None),
            default=1,
        )

    def breaker_state(self) -> BreakerState | None:
        """The best state among the replicas' breakers (None without breakers): closed if
        any replica's is closed, else half-open if any is, else open."""
        states = {r.breaker_state for r in self._replicas}
        for state in (BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN):
            if state in states:
                return state
        return None
