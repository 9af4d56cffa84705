"""Which replica of the predictor gets each call (ReplicaSet), with breakers on a hand clock."""

from collections import Counter

import httpx
import pytest

from gateway.breaker import BreakerState, CircuitBreaker
from gateway.replicas import Replica, ReplicaSet
from tests.support.clock import ManualClock

BASE_URL = httpx.URL("http://predictor.test:8001")
HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def replicas(clock: ManualClock) -> ReplicaSet:
    """Three replicas; each breaker opens after 2 failures, for 5 s."""
    replica_set = ReplicaSet(
        BASE_URL, lambda address: CircuitBreaker(address, 2, 5.0, 20.0, clock=clock)
    )
    replica_set.update(HOSTS)
    return replica_set


def by_address(replicas: ReplicaSet, address: str) -> Replica:
    return next(r for r in replicas.replicas if r.address == address)


def eject(replica: Replica) -> None:
    assert replica.breaker is not None
    for _ in range(2):
        replica.breaker.record_failure()


def test_equal_load_is_spread_evenly(replicas: ReplicaSet) -> None:
    picks: Counter[str] = Counter()
    for _ in range(300):
        replica = replicas.choose()
        assert replica is not None
        picks[replica.address] += 1
    assert picks == {f"{host}:8001": 100 for host in HOSTS}


def test_the_replica_with_fewest_outstanding_wins(replicas: ReplicaSet) -> None:
    for replica in replicas.replicas:
        replica.outstanding = 3
    by_address(replicas, "10.0.0.2:8001").outstanding = 1
    for _ in range(5):
        chosen = replicas.choose()
        assert chosen is not None and chosen.address == "10.0.0.2:8001"


def test_an_open_breaker_ejects_its_replica(replicas: ReplicaSet) -> None:
    eject(by_address(replicas, "10.0.0.1:8001"))
    chosen = {r.address for r in (replicas.choose() for _ in range(30)) if r is not None}
    assert chosen == {"10.0.0.2:8001", "10.0.0.3:8001"}


def test_a_half_open_replica_is_probed_first_and_once(
    replicas: ReplicaSet, clock: ManualClock
) -> None:
    ejected = by_address(replicas, "10.0.0.3:8001")
    eject(ejected)
    clock.now += 5.0
    assert ejected.breaker_state is BreakerState.HALF_OPEN

    first = replicas.choose()
    later = [replicas.choose() for _ in range(10)]

    assert first is ejected
    assert ejected not in later


def test_update_keeps_a_known_breaker_adds_and_removes(replicas: ReplicaSet) -> None:
    kept = by_address(replicas, "10.0.0.1:8001")
    eject(kept)

    replicas.update(["10.0.0.1", "10.0.0.4"])

    assert [r.address for r in replicas.replicas] == ["10.0.0.1:8001", "10.0.0.4:8001"]
    assert replicas.replicas[0] is kept
    assert kept.breaker_state is BreakerState.OPEN
    assert replicas.replicas[1].breaker_state is BreakerState.CLOSED


def test_an_empty_update_keeps_the_replicas(replicas: ReplicaSet) -> None:
    replicas.update([])
    assert len(replicas.replicas) == 3


def test_avoid_excludes_a_replica(replicas: ReplicaSet) -> None:
    avoided = by_address(replicas, "10.0.0.2:8001")
    chosen = [replicas.choose(avoid=avoided) for _ in range(30)]
    assert avoided not in chosen and None not in chosen


def test_choose_gives_none_when_all_are_ejected(replicas: ReplicaSet) -> None:
    assert not replicas.all_ejected()
    for replica in replicas.replicas:
        eject(replica)
    assert replicas.all_ejected()
    assert replicas.choose() is None
    assert replicas.breaker_state() is BreakerState.OPEN


def test_ipv6_addresses_are_bracketed(replicas: ReplicaSet) -> None:
    replicas.update(["fd00::1"])
    assert replicas.replicas[0].address == "[fd00::1]:8001"
    assert replicas.replicas[0].predict_url.netloc == b"[fd00::1]:8001"
