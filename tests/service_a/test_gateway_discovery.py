"""Discovery of the predictor's replicas, with an injected resolver."""

import asyncio
import logging
from collections.abc import Sequence

import httpx
import pytest

from gateway.breaker import CircuitBreaker
from gateway.discovery import Discovery, resolve_addresses
from gateway.replicas import ReplicaSet

BASE_URL = httpx.URL("http://predictor.test:8001")


class FakeResolver:
    """Answers the queued results in turn (the last one again); counts its calls."""

    def __init__(self, *answers: list[str] | OSError | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, OSError):
            raise answer
        if answer is None:
            await asyncio.sleep(10)
            return []
        return answer


def make_replicas() -> ReplicaSet:
    return ReplicaSet(BASE_URL, lambda address: CircuitBreaker(address, 1, 60.0, 60.0))


def addresses(replicas: ReplicaSet) -> list[str]:
    return [r.address for r in replicas.replicas]


def discovery(replicas: ReplicaSet, resolver: FakeResolver) -> Discovery:
    return Discovery(replicas, "predictor.test", 8001, timeout_s=0.05, resolver=resolver)


async def test_a_new_answer_changes_the_replicas() -> None:
    replicas = make_replicas()
    found = discovery(replicas, FakeResolver(["10.0.0.1", "10.0.0.2"], ["10.0.0.2"]))
    await found.refresh()
    assert addresses(replicas) == ["10.0.0.1:8001", "10.0.0.2:8001"]
    await found.refresh()
    assert addresses(replicas) == ["10.0.0.2:8001"]


@pytest.mark.parametrize("failure", [OSError("no such host"), None], ids=["error", "timeout"])
async def test_a_failure_keeps_the_known_and_is_logged_once_per_outage(
    failure: OSError | None, caplog: pytest.LogCaptureFixture
) -> None:
    replicas = make_replicas()
    found = discovery(replicas, FakeResolver(["10.0.0.1"], failure, failure, ["10.0.0.1"]))
    caplog.set_level(logging.INFO, logger="gateway.discovery")
    await found.refresh()
    for _ in range(3):
        await found.refresh()
    assert addresses(replicas) == ["10.0.0.1:8001"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if "resolves again" in r.getMessage()]
    assert len(warnings) == 1 and "predictor.test" in warnings[0].getMessage()
    assert len(infos) == 1 and infos[0].levelno == logging.INFO


async def test_an_empty_answer_keeps_the_known() -> None:
    replicas = make_replicas()
    found = discovery(replicas, FakeResolver(["10.0.0.1"], []))
    await found.refresh()
    await found.refresh()
    assert addresses(replicas) == ["10.0.0.1:8001"]


@pytest.mark.parametrize(
    ("host", "needed"), [("10.0.0.1", False), ("fd00::1", False), ("predictor.test", True)]
)
def test_only_names_need_discovery(host: str, needed: bool) -> None:
    found = Discovery(make_replicas(), host, 8001, timeout_s=1.0, resolver=FakeResolver([]))
    assert found.needed is needed


async def test_run_resolves_sooner_while_all_are_ejected() -> None:
    replicas = make_replicas()
    resolver = FakeResolver(["10.0.0.1"])
    found = discovery(replicas, resolver)
    await found.refresh()
    breaker = replicas.replicas[0].breaker
    assert breaker is not None
    breaker.record_failure()
    assert replicas.all_ejected()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await found.run(every_s=3600.0, while_ejected_s=0.01)
    assert resolver.calls > 3


async def test_run_does_not_resolve_before_every_s_while_some_are_up() -> None:
    replicas = make_replicas()
    resolver = FakeResolver(["10.0.0.1"])
    found = discovery(replicas, resolver)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await found.run(every_s=3600.0, while_ejected_s=0.01)
    assert resolver.calls == 0


async def test_localhost_resolves_to_ipv4_only() -> None:
    assert await resolve_addresses("localhost", 8001) == ["127.0.0.1"]
