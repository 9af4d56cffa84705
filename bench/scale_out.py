"""The benchmark's scale-out phases: the gateway in front of three predictor replicas
against one, and one of three killed under load.

Three predictors listen on 127.0.0.2, .3 and .4 (one port), each named by REPLICA_NAME.
One gateway (1 worker, as by default) resolves its predictor's host with the real
resolver, from an /etc/hosts of its own (devkit.hosts), which the phase rewrites between
slices: the name stands for .2 alone, then for all three, in turns, under the same
forwarding load at concurrency 64 (one replica twice: its A/A is the noise of the
comparison). The same gateway process serves every configuration, because two processes
started alike differ by a few percent in CPU per request (README, Benchmark), as much as
the effect measured. Then each replica's share is its own count of /predict requests
(its /metrics) over one more slice through all three.

Kill: under concurrency 32, one of the three is SIGKILLed half a second into a 5 s wrk
run; the next 5 s run shows whether anything fails once its breaker is open. A probe
thread records when each answer came, so the last failure can be dated.
"""

import json
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.chaos import Probe
from bench.security import cost
from devkit.hosts import own_hosts_unavailable, write_hosts
from devkit.metrics import scraped_total
from devkit.ports import free_port
from devkit.processes import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0
REPLICA_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
PREDICTOR_HOST = "predictor-replicas"
ONE, THREE, ONE_AGAIN = "one-replica", "three-replicas", "one-replica, again"
CONFIGURATIONS = {
    ONE: REPLICA_ADDRESSES[:1],
    THREE: REPLICA_ADDRESSES,
    ONE_AGAIN: REPLICA_ADDRESSES[:1],
}
RESOLVE_S = 1.0
"""The gateway's SERVICE_B_RESOLVE_S here: it sees each rewrite of its hosts within 1 s."""
SWITCH_TIMEOUT_S = 30.0
WARM_UP_S = 1.0
THROUGHPUT_CONCURRENCY = 64
KILL_CONCURRENCY = 32
KILL_WINDOW_S = 5
KILL_AFTER_S = 0.5


def predict_count(predictor: ServiceProcess) -> float:
    with urllib.request.urlopen(predictor.url + "/metrics", timeout=5) as response:  # nosec B310 # loopback
        text = response.read().decode()
    return scraped_total(text, "http_requests_total", route="/predict", method="POST")


@contextmanager
def replicas_and_gateway(
    out: Path, models: Path, common_env: dict[str, str]
) -> Iterator[tuple[dict[str, ServiceProcess], ServiceProcess, "ReplicaSwitch"]]:
    """The three predictors by REPLICA_NAME, the gateway, and what switches its replicas."""
    port = free_port()
    hosts = out / "scale_out_hosts"
    write_hosts(hosts, {PREDICTOR_HOST: REPLICA_ADDRESSES})
    with ExitStack() as stack:
        predictors: dict[str, ServiceProcess] = {}
        for number, address in enumerate(REPLICA_ADDRESSES, start=1):
            name = f"b{number}"
            predictor = ServiceProcess(
                "service_b",
                port,
                {**common_env, "MODEL_DIR": str(models), "REPLICA_NAME": name},
                out / f"scale_out_{name}.log",
                python=str(ROOT / "service_b" / ".venv" / "bin" / "python"),
                host=address,
            )
            stack.callback(predictor.stop)
            predictors[name] = predictor.start()
        for predictor in predictors.values():
            predictor.wait_until_ok("/ready", READY_TIMEOUT_S)
        gateway = ServiceProcess(
            "service_a",
            free_port(),
            {
                **common_env,
                "SERVICE_B_URL": f"http://{PREDICTOR_HOST}:{port}",
                "SERVICE_B_RESOLVE_S": str(RESOLVE_S),
            },
            out / "scale_out_service_a.log",
            python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
            hosts_file=hosts,
        )
        stack.callback(gateway.stop)
        gateway.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        yield predictors, gateway, ReplicaSwitch(gateway, hosts, port)


class ReplicaSwitch:
    """Makes the gateway's predictor host stand for some of the replicas, and waits until
    the gateway calls exactly those."""

    def __init__(self, gateway: ServiceProcess, hosts: Path, port: int) -> None:
        self._gateway = gateway
        self._hosts = hosts
        self._port = port

    def use(self, addresses: Sequence[str]) -> None:
        write_hosts(self._hosts, {PREDICTOR_HOST: addresses})
        wanted = {f"{address}:{self._port}" for address in addresses}
        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready_addresses(self._gateway) == wanted:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the gateway did not switch to {sorted(wanted)} in time")


def listed_replicas(gateway: ServiceProcess) -> list[dict[str, Any]]:
    """The replicas the gateway's /ready lists, each with its address, name and state."""
    with urllib.request.urlopen(gateway.url + "/ready", timeout=5) as response:  # nosec B310 # loopback
        replicas: list[dict[str, Any]] = json.loads(response.read()).get("replicas") or []
    return replicas


def ready_addresses(gateway: ServiceProcess) -> set[str]:
    """The addresses the gateway's /ready lists as ready."""
    return {r["address"] for r in listed_replicas(gateway) if r["state"] == "ready"}


def replica_shares(
    before: dict[str, float], predictors: dict[str, ServiceProcess]
) -> dict[str, float]:
    served = {name: predict_count(p) - before[name] for name, p in predictors.items()}
    total = sum(served.values())
    return {name: round(count / total, 3) for name, count in served.items()}


def kill_one(
    gateway: ServiceProcess, victim: ServiceProcess, script: Path, run_wrk: Any
) -> dict[str, Any]:
    """Failures in the KILL_WINDOW_S after SIGKILLing `victim`, and in the window after."""
    url = gateway.url + "/process"
    body = json.dumps({"data": "a dog barking at the mailman", "forward_to_model": True}).encode()
    windows: dict[str, dict[str, int]] = {}

    def during() -> None:
        windows["after_kill"] = run_wrk(url, script, KILL_CONCURRENCY, KILL_WINDOW_S)

    with Probe(gateway.port, "POST", "/process", body) as probe:
        load = threading.Thread(target=during)
        load.start()
        time.sleep(KILL_AFTER_S)
        killed_at = time.monotonic()
        victim.kill()
        load.join()
        windows["next"] = run_wrk(url, script, KILL_CONCURRENCY, KILL_WINDOW_S)

    def failed(result: dict[str, int]) -> int:
        return sum(result[key] for key in ("non_2xx", "connect_errors", "read_errors", "timeouts"))

    failures = [a for a in probe.answers if a.at >= killed_at and a.status != 200]
    return {
        window: {
            "requests": result["requests"],
            "failed": failed(result),
            "failed_share": round(failed(result) / max(1, result["requests"]), 5),
        }
        for window, result in windows.items()
    } | {
        "probe_failures": len(failures),
        "last_probe_failure_after_kill_s": (
            round(failures[-1].at - killed_at, 3) if failures else None
        ),
        "ready_replicas": listed_replicas(gateway),
    }


def scale_out_phases(
    texts: list[str],
    out: Path,
    models: Path,
    common_env: dict[str, str],
    seconds: float,
    slices: int,
    run_wrk: Any,
    lua_script: Any,
    cpu: Any,
) -> dict[str, Any]:
    """`run_wrk`, `lua_script` and `cpu` are bench.run's."""
    unavailable = own_hosts_unavailable()
    if unavailable is not None:
        raise RuntimeError(f"scale-out phases need a private /etc/hosts: {unavailable}")
    print("scale out: 1 replica / 3 replicas at c=64; one of 3 killed at c=32", flush=True)
    bodies = [json.dumps({"data": t, "forward_to_model": True}) for t in texts]
    script = lua_script(bodies, out, "scale_out")
    with replicas_and_gateway(out, models, common_env) as (predictors, gateway, switch):
        url = gateway.url + "/process"

        def switch_to(name: str) -> None:
            switch.use(CONFIGURATIONS[name])
            run_wrk(url, script, THROUGHPUT_CONCURRENCY, WARM_UP_S)

        for addresses in (REPLICA_ADDRESSES, REPLICA_ADDRESSES[:1]):
            switch.use(addresses)
            run_wrk(url, script, THROUGHPUT_CONCURRENCY, 5)
        throughput = cost(
            dict.fromkeys(CONFIGURATIONS, gateway),
            dict.fromkeys(CONFIGURATIONS, script),
            seconds,
            slices,
            run_wrk,
            cpu,
            before_slice=switch_to,
        )
        switch.use(CONFIGURATIONS[THREE])
        before = {name: predict_count(p) for name, p in predictors.items()}
        run_wrk(url, script, THROUGHPUT_CONCURRENCY, seconds / slices)
        shares = replica_shares(before, predictors)
        for name, result in throughput.items():
            print(f"  {name:<22} {json.dumps(result)}", flush=True)
        print(f"  shares over 3 replicas {json.dumps(shares)}", flush=True)
        killed = kill_one(gateway, predictors["b3"], script, run_wrk)
        print(f"  kill one of 3         {json.dumps(killed)}", flush=True)
    return {"throughput": throughput, "shares": shares, "kill": killed}


def scale_out_checks(scale_out: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    throughput, shares, killed = scale_out["throughput"], scale_out["shares"], scale_out["kill"]
    third = 1 / len(shares)
    return [
        ("gateway forwarding req/s at c=64: 3 predictor replicas / 1",
         throughput[THREE]["rps"] / throughput[ONE]["rps"], 0.95, ">="),
        ("largest distance of a replica's share from a third, relative",
         max(abs(share - third) / third for share in shares.values()), 0.2, "<="),
        ("failed share of requests in the 5 s after killing one of 3 replicas",
         killed["after_kill"]["failed_share"], 0.01, "<="),
        ("failed requests in the next 5 s (its breaker open)",
         killed["next"]["failed"], 0, "<="),
    ]  # fmt: skip
