"""The gateway in front of several real predictor processes that one name resolves to
(each on its own loopback address, the same port; the gateway has its own /etc/hosts,
devkit.hosts): calls spread over every replica, one killed (SIGKILL) or stopped (SIGTERM)
under load costs the clients nothing (calls it did not process are retried on another),
and a replica added to the name gets calls.

Counts and outcomes are asserted; times are guards only.
"""

import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devkit.hosts import write_hosts
from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, PREDICTOR_READY_TIMEOUT, ServiceProcess
from tests.support.load import Answer, Load, outcome_counts
from tests.support.required import require_own_hosts

pytestmark = pytest.mark.integration

NAME = "predictors"
ADDRESSES = {"b1": "127.0.0.2", "b2": "127.0.0.3", "b3": "127.0.0.4"}
JOINER = ("b4", "127.0.0.5")
FORWARD = {"data": "my dog loves to fetch the ball", "forward_to_model": True}
QUIET = {"ACCESS_LOG": "false"}
BREAKER_FAILURES = 5
GATEWAY_SETTINGS = QUIET | {
    "BREAKER_FAILURES": str(BREAKER_FAILURES),
    "SERVICE_B_RESOLVE_S": "0.5",
    "SERVICE_B_CONNECT_TIMEOUT": "1.0",
}
CONCURRENCY = 8
PAUSE_S = 0.01  # between a client's requests: load, without taking both cores
SEQUENTIAL_CALLS = 300
FAIR_SHARE = 0.2  # of the calls, at least, for each of three replicas (pinned: 0 or 1)
WARM_UP_200S = 60
AFTER_FAULT_200S = 200
GUARD_S = 20.0  # bounds each wait; things happen well within it, or the test fails


def free_on_all(hosts: list[str]) -> int:
    """A port free on 127.0.0.1 that is free on every one of `hosts` too."""
    for _ in range(50):
        port = free_port()
        probes = [socket.socket() for _ in hosts]
        try:
            for probe, host in zip(probes, hosts, strict=True):
                probe.bind((host, port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


class Cluster:
    """Predictor replicas on one port at several addresses, behind one gateway."""

    def __init__(self, model_dir: Path, log_dir: Path) -> None:
        self.model_dir = model_dir
        self.log_dir = log_dir
        self.hosts_file = log_dir / "hosts"
        self.port = free_on_all([*ADDRESSES.values(), JOINER[1]])
        self.predictors: dict[str, ServiceProcess] = {}
        self.started: list[ServiceProcess] = []
        self.gateway: ServiceProcess | None = None

    def start_predictor(self, name: str, address: str) -> ServiceProcess:
        process = ServiceProcess(
            "service_b",
            self.port,
            QUIET | {"MODEL_DIR": str(self.model_dir), "REPLICA_NAME": name},
            self.log_dir / f"{name}.log",
            host=address,
        )
        self.started.append(process.start())
        self.predictors[name] = process
        return process

    def publish(self, names: dict[str, str]) -> None:
        """Make the gateway's /etc/hosts say NAME is these replicas' addresses."""
        write_hosts(self.hosts_file, {NAME: list(names.values())})

    def start(self) -> "Cluster":
        for name, address in ADDRESSES.items():
            self.start_predictor(name, address)
        for process in self.predictors.values():
            process.wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        self.publish(ADDRESSES)
        gateway = ServiceProcess(
            "service_a",
            free_port(),
            GATEWAY_SETTINGS | {"SERVICE_B_URL": f"http://{NAME}:{self.port}"},
            self.log_dir / "gateway.log",
            hosts_file=self.hosts_file,
        )
        self.started.append(gateway.start())
        gateway.wait_until_ok("/ready", GATEWAY_READY_TIMEOUT)
        self.gateway = gateway
        return self

    @property
    def url(self) -> str:
        assert self.gateway is not None, "not started"
        return self.gateway.url

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {process.log_path.name}\n{process.log_tail()}" for process in self.started
        )


@pytest.fixture
def cluster(model_dir: Path, tmp_path: Path) -> Iterator[Cluster]:
    """Three predictors (b1..b3, one trained model) behind a gateway; all stopped after."""
    require_own_hosts("the gateway in front of several predictor replicas is not tested")
    cluster = Cluster(model_dir, tmp_path)
    try:
        yield cluster.start()
    finally:
        cluster.stop_all()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=GUARD_S) as client:
        yield client


def body(payload: dict[str, object]) -> bytes:
    return json.dumps(payload).encode()


def count_200s_sent_after(
    after: float, count: int, served_by: set[str] | None = None
) -> Callable[[list[Answer]], bool]:
    def condition(answers: list[Answer]) -> bool:
        return (
            sum(
                a.outcome == 200
                and a.sent_at >= after
                and (served_by is None or a.served_by in served_by)
                for a in answers
            )
            >= count
        )

    return condition


def served_by(answers: list[Answer]) -> Counter[str | None]:
    return Counter(a.served_by for a in answers)


def replicas_by_name(http: httpx.Client, url: str) -> dict[str, dict[str, object]]:
    response = http.get(f"{url}/ready")
    assert response.status_code == 200, response.text
    return {str(r["address"]): r for r in response.json()["replicas"]}


def ready_names(replicas: dict[str, dict[str, object]]) -> list[str]:
    return sorted(str(r["name"]) for r in replicas.values() if r["state"] == "ready")


def wait_for_open_breaker(http: httpx.Client, cluster: Cluster, address: str) -> None:
    """Until the gateway's /ready says the replica at `address` is ejected."""
    wanted = f"{address}:{cluster.port}"
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        replica = replicas_by_name(http, cluster.url).get(wanted)
        if replica is not None and replica["breaker"] == "open":
            return
        time.sleep(0.1)
    pytest.fail(f"{wanted}'s breaker did not open:\n{cluster.logs()}")


def under_load(cluster: Cluster) -> Load:
    return Load(cluster.url + "/process", body(FORWARD), concurrency=CONCURRENCY, pause_s=PAUSE_S)


def test_every_replica_gets_a_fair_share_of_calls(cluster: Cluster, http: httpx.Client) -> None:
    responses = [http.post(f"{cluster.url}/process", json=FORWARD) for _ in range(SEQUENTIAL_CALLS)]
    statuses = Counter(r.status_code for r in responses)
    shares = Counter(r.headers.get("X-Served-By") for r in responses)

    assert statuses == {200: SEQUENTIAL_CALLS}, statuses
    assert set(shares) == set(ADDRESSES), shares
    assert min(shares.values()) >= FAIR_SHARE * SEQUENTIAL_CALLS, shares


def test_ready_lists_every_replica_ready_by_name(cluster: Cluster, http: httpx.Client) -> None:
    response = http.get(f"{cluster.url}/ready")

    assert response.status_code == 200, response.text
    replicas = response.json()["replicas"]
    assert sorted(replicas, key=lambda r: r["name"]) == [
        {
            "address": f"{address}:{cluster.port}",
            "name": name,
            "state": "ready",
            "breaker": "closed",
        }
        for name, address in sorted(ADDRESSES.items())
    ]


def test_replica_killed_under_load_costs_clients_nothing(
    cluster: Cluster, http: httpx.Client
) -> None:
    killed, address = "b2", ADDRESSES["b2"]
    with under_load(cluster) as load:
        assert load.wait_until(count_200s_sent_after(0.0, WARM_UP_200S), GUARD_S), outcome_counts(
            load.answers
        )
        killed_at = time.monotonic()
        cluster.predictors[killed].kill()
        wait_for_open_breaker(http, cluster, address)
        opened_at = time.monotonic()
        settled = load.wait_until(count_200s_sent_after(opened_at, AFTER_FAULT_200S), GUARD_S)
        answers = load.stop()
    after_open = [a for a in answers if a.sent_at >= opened_at]

    assert settled, outcome_counts(after_open)
    assert outcome_counts(answers) == {200: len(answers)}, (
        outcome_counts(answers),
        [a.error for a in answers if a.outcome != 200][:5],
    )
    assert killed in served_by([a for a in answers if a.answered_at < killed_at])
    assert set(served_by(after_open)) == set(ADDRESSES) - {killed}, served_by(after_open)
    replicas = replicas_by_name(http, cluster.url)
    assert replicas[f"{address}:{cluster.port}"] == {
        "address": f"{address}:{cluster.port}",
        "name": None,
        "state": "not_ready",
        "breaker": "open",
    }
    assert ready_names(replicas) == ["b1", "b3"]


def test_replica_added_to_the_name_gets_calls(cluster: Cluster, http: httpx.Client) -> None:
    name, address = JOINER
    cluster.start_predictor(name, address).wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
    cluster.publish(ADDRESSES | {name: address})
    shares: Counter[str | None] = Counter()
    deadline = time.monotonic() + GUARD_S
    while shares[name] < 1 and time.monotonic() < deadline:
        response = http.post(f"{cluster.url}/process", json=FORWARD)
        assert response.status_code == 200, response.text
        shares[response.headers.get("X-Served-By")] += 1
        time.sleep(0.02)

    assert shares[name] >= 1, (shares, cluster.logs())
    ready = replicas_by_name(http, cluster.url)
    assert ready_names(ready) == ["b1", "b2", "b3", "b4"]


def test_replica_stopped_gracefully_under_load_loses_no_call(cluster: Cluster) -> None:
    stopped = cluster.predictors["b3"]
    with under_load(cluster) as load:
        assert load.wait_until(count_200s_sent_after(0.0, WARM_UP_200S), GUARD_S), outcome_counts(
            load.answers
        )
        stopped.stop()
        exited_at = time.monotonic()
        settled = load.wait_until(count_200s_sent_after(exited_at, AFTER_FAULT_200S), GUARD_S)
        answers = load.stop()
    after_exit = [a for a in answers if a.sent_at >= exited_at]

    assert stopped.returncode() == 0, stopped.log_tail()
    assert settled, outcome_counts(after_exit)
    assert outcome_counts(answers) == {200: len(answers)}, (
        outcome_counts(answers),
        [a.error for a in answers if a.outcome != 200][:5],
    )
    assert set(served_by(after_exit)) == {"b1", "b2"}, served_by(after_exit)
