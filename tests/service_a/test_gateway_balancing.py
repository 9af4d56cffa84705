"""The gateway in front of three fake replicas of the predictor (an injected resolver)."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from gateway.main import create_app
from tests.support.asgi import serve
from tests.support.gateway import PREDICTION, make_settings

HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
FORWARD = {"data": "cat image data", "forward_to_model": True}
LOG_ONLY = {"data": "cat image data", "forward_to_model": False}


class Replicas:
    """Fake replicas by IP: each answers as `behaviour[host]` says; counts calls."""

    def __init__(self) -> None:
        self.hosts = list(HOSTS)
        self.behaviour: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.host_headers: set[str] = set()

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        return list(self.hosts)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.calls[host] += 1
        self.host_headers.add(request.headers["host"])
        behaviour = self.behaviour.get(host, "ok")
        name = f"replica-{host.rsplit('.', 1)[-1]}"
        if behaviour == "refuse":
            raise httpx.ConnectError("refused", request=request)
        if behaviour == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if behaviour == "503":
            return httpx.Response(503, json={"detail": "busy"}, headers={"X-Served-By": name})
        if behaviour == "bad-name":
            name = "bad name\x01"
        if request.url.path.endswith("/ready"):
            return httpx.Response(
                200, json={"status": "ready", "model_version": "v1"}, headers={"X-Served-By": name}
            )
        return httpx.Response(200, json=PREDICTION, headers={"X-Served-By": name})


@pytest.fixture
def replicas() -> Replicas:
    return Replicas()


async def gateway(replicas: Replicas, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        make_settings(**settings),
        transport=replicas.transport(),
        resolver=replicas.resolve,
    )
    async with serve(app) as client:
        yield client


@pytest.fixture
async def client(replicas: Replicas) -> AsyncIterator[httpx.AsyncClient]:
    async for client in gateway(replicas, BREAKER_FAILURES=2, RETRY_BUDGET_RATIO=1.0):
        yield client


async def test_answers_name_the_replica_and_all_get_traffic(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    served = set()
    for _ in range(9):
        response = await client.post("/process", json=FORWARD)
        assert response.status_code == 200
        served.add(response.headers["x-served-by"])
    assert served == {"replica-1", "replica-2", "replica-3"}
    assert set(replicas.calls) >= set(HOSTS)


async def test_the_host_header_is_the_configured_host(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    for _ in range(3):
        await client.post("/process", json=FORWARD)
    assert replicas.host_headers == {"predictor.test"}


async def test_a_refusing_replica_is_retried_elsewhere_then_ejected(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    replicas.behaviour["10.0.0.2"] = "refuse"
    statuses = [(await client.post("/process", json=FORWARD)).status_code for _ in range(12)]
    assert statuses == [200] * 12
    refused = replicas.calls["10.0.0.2"]
    for _ in range(6):
        assert (await client.post("/process", json=FORWARD)).status_code == 200
    assert replicas.calls["10.0.0.2"] == refused


async def test_a_503_is_retried_on_another_replica(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    replicas.behaviour["10.0.0.1"] = "503"
    statuses = [(await client.post("/process", json=FORWARD)).status_code for _ in range(3)]
    assert statuses == [200] * 3
    assert replicas.calls["10.0.0.1"] >= 1


async def test_without_retry_budget_a_503_is_not_retried(replicas: Replicas) -> None:
    for host in HOSTS[1:]:
        replicas.hosts.remove(host)
    replicas.hosts.append("10.0.0.2")
    replicas.behaviour["10.0.0.1"] = "503"
    async for client in gateway(replicas, RETRY_BUDGET_RATIO=0, BREAKER_FAILURES=100):
        statuses = {(await client.post("/process", json=FORWARD)).status_code for _ in range(4)}
        assert 503 in statuses


async def test_a_read_timeout_is_not_retried(client: httpx.AsyncClient, replicas: Replicas) -> None:
    for host in HOSTS:
        replicas.behaviour[host] = "timeout"
    response = await client.post("/process", json=FORWARD)
    assert response.status_code == 504
    assert sum(replicas.calls.values()) == 1


async def test_ready_lists_the_replicas_and_is_ready_with_one_down(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    replicas.behaviour["10.0.0.3"] = "refuse"
    response = await client.get("/ready")
    assert response.status_code == 200
    listed = {r["address"]: r for r in response.json()["replicas"]}
    assert set(listed) == set(HOSTS)
    assert listed["10.0.0.1"]["state"] == "ready"
    assert listed["10.0.0.3"]["state"] != "ready"


async def test_ready_is_503_when_no_replica_is(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    for host in HOSTS:
        replicas.behaviour[host] = "refuse"
    response = await client.get("/ready")
    assert response.status_code == 503


async def test_a_bad_served_by_is_not_passed_on(
    client: httpx.AsyncClient, replicas: Replicas
) -> None:
    for host in HOSTS:
        replicas.behaviour[host] = "bad-name"
    response = await client.post("/process", json=FORWARD)
    assert response.status_code == 200
    assert "x-served-by" not in response.headers


async def test_a_logged_only_input_has_no_served_by(client: httpx.AsyncClient) -> None:
    response = await client.post("/process", json=LOG_ONLY)
    assert response.status_code == 200
    assert "x-served-by" not in response.headers


async def test_a_new_address_gets_traffic_after_a_refresh(replicas: Replicas) -> None:
    async for client in gateway(replicas, SERVICE_B_RESOLVE_S=0.01):
        replicas.hosts.append("10.0.0.4")
        async with asyncio.timeout(5):
            while replicas.calls["10.0.0.4"] == 0:
                assert (await client.post("/process", json=FORWARD)).status_code == 200
                await asyncio.sleep(0.01)


class HeldReadiness(Replicas):
    """Replicas whose /ready answers wait until `release` is set; counts /ready calls."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.ready_called = asyncio.Event()
        self.ready_calls: Counter[str] = Counter()
        self.ready_cancelled = 0

    async def handle_held(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ready"):
            self.ready_calls[request.url.host] += 1
            self.ready_called.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.ready_cancelled += 1
                raise
        return self.handle(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle_held)


async def give_up(caller: "asyncio.Task[httpx.Response]") -> None:
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)


async def wait_for_ready_calls(replicas: HeldReadiness, count: int) -> None:
    async with asyncio.timeout(5):
        while sum(replicas.ready_calls.values()) < count:
            replicas.ready_called.clear()
            await replicas.ready_called.wait()


async def test_concurrent_ready_calls_share_one_check_of_each_replica() -> None:
    replicas = HeldReadiness()
    async for client in gateway(replicas):
        asking = [asyncio.create_task(client.get("/ready")) for _ in range(20)]
        await wait_for_ready_calls(replicas, len(HOSTS))
        await asyncio.sleep(0.05)  # time for any further calls to arrive
        assert replicas.ready_calls == Counter(dict.fromkeys(HOSTS, 1))
        replicas.release.set()
        answers = await asyncio.gather(*asking)
        assert [answer.status_code for answer in answers] == [200] * 20
        for answer in answers:
            assert {r["address"] for r in answer.json()["replicas"]} == set(HOSTS)


async def test_a_ready_call_after_a_round_checks_the_replicas_again() -> None:
    replicas = HeldReadiness()
    replicas.release.set()
    async for client in gateway(replicas):
        assert (await client.get("/ready")).status_code == 200
        for host in HOSTS:
            replicas.behaviour[host] = "refuse"
        assert (await client.get("/ready")).status_code == 503
        assert replicas.ready_calls == Counter(dict.fromkeys(HOSTS, 2))


async def test_a_ready_caller_that_gives_up_does_not_cancel_the_check_for_others() -> None:
    replicas = HeldReadiness()
    async for client in gateway(replicas):
        first = asyncio.create_task(client.get("/ready"))
        await wait_for_ready_calls(replicas, len(HOSTS))
        second = asyncio.create_task(client.get("/ready"))
        await asyncio.sleep(0.05)
        await give_up(first)
        replicas.release.set()
        answer = await second
        assert answer.status_code == 200
        assert replicas.ready_calls == Counter(dict.fromkeys(HOSTS, 1))


async def test_a_check_no_caller_waits_for_is_stopped_when_the_gateway_stops() -> None:
    replicas = HeldReadiness()
    async for client in gateway(replicas):
        caller = asyncio.create_task(client.get("/ready"))
        await wait_for_ready_calls(replicas, len(HOSTS))
        await give_up(caller)
        assert replicas.ready_cancelled == 0
    assert replicas.ready_cancelled == len(HOSTS)
