"""The benchmark's scale-out phases: the gateway in front of three predictor replicas
against one, and one of three killed under load.

Three predictors listen on 127.0.0.2, .3 and .4 (one port), each named by REPLICA_NAME.
Two gateways (1 worker each, as by default) resolve their predictor's host with the real
resolver, from an /etc/hosts of their own (devkit.hosts): `one-replica` names .2 alone,
`three-replicas` all three. They take turns under the same forwarding load at
concurrency 64 (the first one twice: its A/A is the noise of the comparison). Then each
replica's share is its own count of /predict requests (its /metrics) over one more
slice through `three-replicas`.

Kill: under concurrency 32, one of the three is SIGKILLed half a second into a 5 s wrk
run; the next 5 s run shows whether anything fails once its breaker is open. A probe
thread records when each answer came, so the last failure can be dated.
"""

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
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
ONE, THREE = "one-replica", "three-replicas"
THROUGHPUT_CONCURRENCY = 64
KILL_CONCURRENCY = 32
KILL_WINDOW_S = 5
KILL_AFTER_S = 0.5


def predict_count(predictor: ServiceProcess) -> float:
    with urllib.request.urlopen(predictor.url + "/metrics", timeout=5) as response:  # nosec B310 # loopback
        text = response.read().decode()
    return scraped_total(text, "http_requests_total", route="/predict", method="POST")


@contextmanager
def replicas_and_gateways(
    out: Path, models: Path, common_env: dict[str, str]
) -> Iterator[tuple[dict[str, ServiceProcess], dict[str, ServiceProcess]]]:
    """The three predictors by REPLICA_NAME, and the two gateways by name."""
    port = free_port()
    hosts = out / "scale_out_hosts"
    write_hosts(hosts, {ONE: REPLICA_ADDRESSES[:1], THREE: REPLICA_ADDRESSES})
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
        gateways: dict[str, ServiceProcess] = {}
        for name in (ONE, THREE):
            gateway = ServiceProcess(
                "service_a",
                free_port(),
                {**common_env, "SERVICE_B_URL": f"http://{name}:{port}"},
                out / f"scale_out_{name}_service_a.log",
                python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
                hosts_file=hosts,
            )
            stack.callback(gateway.stop)
            gateways[name] = gateway.start()
            gateway.wait_until_ok("/ready", READY_TIMEOUT_S)
        yield predictors, gateways


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
    with urllib.request.urlopen(gateway.url + "/ready", timeout=5) as response:  # nosec B310 # loopback
        ready = json.loads(response.read())

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
        "ready_replicas": ready.get("replicas"),
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
    scripts = {ONE: script, THREE: script, f"{ONE}, again": script}
    with replicas_and_gateways(out, models, common_env) as (predictors, gateways):
        started = gateways | {f"{ONE}, again": gateways[ONE]}
        for gateway in gateways.values():
            run_wrk(gateway.url + "/process", script, THROUGHPUT_CONCURRENCY, 5)
        throughput = cost(started, scripts, seconds, slices, run_wrk, cpu)
        before = {name: predict_count(p) for name, p in predictors.items()}
        run_wrk(gateways[THREE].url + "/process", script, THROUGHPUT_CONCURRENCY, seconds / slices)
        shares = replica_shares(before, predictors)
        for name, result in throughput.items():
            print(f"  {name:<22} {json.dumps(result)}", flush=True)
        print(f"  shares over 3 replicas {json.dumps(shares)}", flush=True)
        killed = kill_one(gateways[THREE], predictors["b3"], script, run_wrk)
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
