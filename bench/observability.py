"""The benchmark's observability phases: what metrics and trace propagation cost, and
whether the counters of a gateway with 2 workers are exact.

Cost: four stacks (a gateway with 2 workers and a predictor each) take turns under the
same forwarding load: metrics and tracing on (the defaults), metrics off, tracing off,
and the first again (A/A, the noise of the comparison).
No exporter is configured, so tracing is the `traceparent` and the trace ids of the log
lines. The figure is CPU (user and system) per forwarded request of each service's
processes, steadier than req/s on a shared machine.

Exactness: COUNT_REQUESTS requests, each on a new connection so the kernel hands them to
both workers, then one scrape of /metrics: the route's counter must be exactly the number
sent, and each worker's own file shows its share.
"""

import http.client
import json
import re
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from devkit.metrics import scraped_total, worker_total
from devkit.ports import free_port
from devkit.processes import ServiceProcess, worker_pids

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0
COST_CONCURRENCY = 64
COUNT_REQUESTS = 10_000
COUNT_CLIENTS = 16
STACKS = {
    "metrics and tracing on": {},
    "metrics off": {"METRICS_ENABLED": "false"},
    "tracing off": {"TRACING_ENABLED": "false"},
    # The first stack again: how far two identical stacks differ is the noise the
    # ratios above are read against.
    "metrics and tracing on, again": {},
}


class Stack:
    """A gateway (2 workers) in front of a predictor of its own, with `env` in both."""

    def __init__(self, name: str, gateway: ServiceProcess, predictor: ServiceProcess) -> None:
        self.name = name
        self.gateway = gateway
        self.predictor = predictor


@contextmanager
def stacks(out: Path, models: Path, common_env: dict[str, str]) -> Iterator[list[Stack]]:
    with ExitStack() as stack:
        started = []
        for name, env in STACKS.items():
            slug = re.sub(r"\W+", "_", name)
            predictor = ServiceProcess(
                "service_b",
                free_port(),
                {**common_env, **env, "MODEL_DIR": str(models)},
                out / f"observability_{slug}_service_b.log",
                python=str(ROOT / "service_b" / ".venv" / "bin" / "python"),
            )
            stack.callback(predictor.stop)
            predictor.start().wait_until_ok("/ready", READY_TIMEOUT_S)
            gateway = ServiceProcess(
                "service_a",
                free_port(),
                {**common_env, **env, "SERVICE_B_URL": predictor.url, "WORKERS": "2"},
                out / f"observability_{slug}_service_a.log",
                python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
            )
            stack.callback(gateway.stop)
            gateway.start().wait_until_ok("/ready", READY_TIMEOUT_S)
            started.append(Stack(name, gateway, predictor))
        yield started


def cpu_cost(
    stacks_: list[Stack], script: Path, seconds: float, slices: int, run_wrk: Any, cpu: Any
) -> dict[str, dict[str, float]]:
    """CPU µs per forwarded request of each stack's gateway and predictor, the stacks
    taking turns in `slices` (in one order, then the other)."""
    totals = {
        s.name: {"requests": 0, "gateway_cpu_s": 0.0, "predictor_cpu_s": 0.0} for s in stacks_
    }
    rps: dict[str, list[float]] = {s.name: [] for s in stacks_}
    for number in range(slices):
        for stack in stacks_ if number % 2 == 0 else stacks_[::-1]:
            gateway_before, predictor_before = cpu(stack.gateway), cpu(stack.predictor)
            result = run_wrk(
                stack.gateway.url + "/process", script, COST_CONCURRENCY, seconds / slices
            )
            total = totals[stack.name]
            total["requests"] += result["requests"]
            total["gateway_cpu_s"] += cpu(stack.gateway) - gateway_before
            total["predictor_cpu_s"] += cpu(stack.predictor) - predictor_before
            rps[stack.name].append(result["requests"] / (result["duration_us"] / 1e6))
            if result["non_2xx"] or result["connect_errors"] or result["read_errors"]:
                raise RuntimeError(f"{stack.name}: errors under load: {result}")
    return {
        name: {
            "requests": total["requests"],
            "rps": round(statistics.median(rps[name]), 1),
            "gateway_cpu_us": round(total["gateway_cpu_s"] * 1e6 / total["requests"], 1),
            "predictor_cpu_us": round(total["predictor_cpu_s"] * 1e6 / total["requests"], 1),
        }
        for name, total in totals.items()
    }


def post_exactly(port: int, body: bytes, count: int, clients: int) -> dict[int, int]:
    """POST `body` to /process `count` times from `clients` threads, a new connection per
    request; how many answers had each status (0: no answer)."""
    statuses: dict[int, int] = {}
    remaining = iter(range(count))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", "/process", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
            finally:
                connection.close()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def scraped_process_requests(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return scraped_total(response.read().decode(), "http_requests_total", route="/process")


def exact_count(
    out: Path, predictor: ServiceProcess, common_env: dict[str, str], body: bytes
) -> dict[str, Any]:
    """COUNT_REQUESTS forwarded requests to a fresh 2-worker gateway, then one scrape."""
    folder = out / "observability_multiproc"
    gateway = ServiceProcess(
        "service_a",
        free_port(),
        {
            **common_env,
            "SERVICE_B_URL": predictor.url,
            "WORKERS": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
        },
        out / "observability_count_service_a.log",
        python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
    )
    try:
        gateway.start().wait_until_ok("/health", READY_TIMEOUT_S)
        started = time.monotonic()
        statuses = post_exactly(gateway.port, body, COUNT_REQUESTS, COUNT_CLIENTS)
        seconds = time.monotonic() - started
        scraped = scraped_process_requests(gateway.url)
        shares = sorted(
            worker_total(folder, pid, "http_requests_total", route="/process")
            for pid in worker_pids(gateway.pid)
        )
    finally:
        gateway.stop()
    return {
        "sent": COUNT_REQUESTS,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "scraped": scraped,
        "per_worker": shares,
        "seconds": round(seconds, 1),
    }


def observability_phases(
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
    """`run_wrk`, `lua_script` and `cpu` (seconds of CPU of a process and its children)
    are bench.run's."""
    print(f"observability: {' / '.join(STACKS)}", flush=True)
    script = lua_script(
        [json.dumps({"data": t, "forward_to_model": True}) for t in texts], out, "observability"
    )
    with stacks(out, models, common_env) as started:
        for stack in started:
            run_wrk(stack.gateway.url + "/process", script, COST_CONCURRENCY, 5)
        cost = cpu_cost(started, script, seconds, slices, run_wrk, cpu)
        for name, result in cost.items():
            print(f"  {name:<24} {json.dumps(result)}", flush=True)
        print(f"  {COUNT_REQUESTS} requests to a 2-worker gateway, then a scrape", flush=True)
        body = json.dumps({"data": texts[0], "forward_to_model": True}).encode()
        count = exact_count(out, started[0].predictor, common_env, body)
        print(f"  {json.dumps(count)}", flush=True)
    return {"cost": cost, "count": count}


def observability_checks(observability: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    cost, count = observability["cost"], observability["count"]
    on, metrics_off, tracing_off = (
        cost["metrics and tracing on"],
        cost["metrics off"],
        cost["tracing off"],
    )

    def both(result: dict[str, float]) -> float:
        return result["gateway_cpu_us"] + result["predictor_cpu_us"]

    return [
        ("gateway CPU per forwarded request: metrics on / off",
         on["gateway_cpu_us"] / metrics_off["gateway_cpu_us"], 1.05, "<="),
        ("predictor CPU per request: metrics on / off",
         on["predictor_cpu_us"] / metrics_off["predictor_cpu_us"], 1.05, "<="),
        ("CPU per forwarded request, both services: tracing (no exporter) on / off",
         both(on) / both(tracing_off), 1.02, "<="),
        (f"2-worker gateway: scraped /process counter - {count['sent']} sent",
         abs(count["scraped"] - count["sent"]), 0, "<="),
        ("2-worker gateway: answers other than 200",
         count["sent"] - count["statuses"].get("200", 0), 0, "<="),
        ("2-worker gateway: requests counted by the least busy worker",
         min(count["per_worker"], default=0), 1, ">="),
    ]  # fmt: skip
