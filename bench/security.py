"""The benchmark's security phases: what API keys and a rate limit cost the gateway, and
whether a flood from one key hurts the others.

Cost: three gateways (1 worker, as by default) in front of one predictor take turns under
the same forwarding load at concurrency 64: one open (no keys, no limit), one with API
keys and a rate limit that is never hit (the limit is counted, in memory, for every
request), and the open one again (A/A: the noise of the comparison). The figure is each
one's req/s, and the gateway's CPU per request.

Flood: a third gateway, whose keys are limited to FLOOD_LIMIT each. Key B sends at a
steady pace well under its limit; in every other slice key A floods at about
FLOOD_FACTOR times its own limit (wrk with a pause per connection). B's p99 with the
flood is compared with its p99 without, and none of B's requests may be refused.
"""

import json
import statistics
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from devkit.ports import free_port
from devkit.processes import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300.0
COST_CONCURRENCY = 64
KEY_A = "bench-key-a-0123456789abcdef"
KEY_B = "bench-key-b-0123456789abcdef"
NEVER_HIT_LIMIT = "1000000/second"
FLOOD_LIMIT_PER_S = 100
FLOOD_FACTOR = 10
# wrk paces a connection by pausing between requests: 12 connections pausing 9 ms (plus
# the ~1 ms a 429 takes) send a little over FLOOD_FACTOR x FLOOD_LIMIT_PER_S a second.
FLOOD_CONNECTIONS = 12
FLOOD_DELAY_MS = 9
# Key B: 4 connections pausing 100 ms, about 35 a second: under its limit.
STEADY_CONNECTIONS = 4
STEADY_DELAY_MS = 100


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def gateways(
    out: Path, models: Path, common_env: dict[str, str]
) -> Iterator[dict[str, ServiceProcess]]:
    """The predictor and the three gateways in front of it, by name."""
    with ExitStack() as stack:
        predictor = ServiceProcess(
            "service_b",
            free_port(),
            {**common_env, "MODEL_DIR": str(models)},
            out / "security_service_b.log",
            python=str(ROOT / "service_b" / ".venv" / "bin" / "python"),
        )
        stack.callback(predictor.stop)
        predictor.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        keys = f"{KEY_A},{KEY_B}"
        settings = {
            "open": {},
            "keys and limit": {"API_KEYS": keys, "RATE_LIMIT": NEVER_HIT_LIMIT},
            # The first again: how far two identical gateways differ is the noise the
            # ratio is read against.
            "open, again": {},
            "flooded": {"API_KEYS": keys, "RATE_LIMIT": f"{FLOOD_LIMIT_PER_S}/second"},
        }
        started = {"predictor": predictor}
        for name, env in settings.items():
            gateway = ServiceProcess(
                "service_a",
                free_port(),
                {**common_env, **env, "SERVICE_B_URL": predictor.url},
                out / f"security_{name.replace(' ', '_')}_service_a.log",
                python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
            )
            stack.callback(gateway.stop)
            gateway.start().wait_until_ok("/ready", READY_TIMEOUT_S)
            started[name] = gateway
        yield started


def cost(
    started: dict[str, ServiceProcess],
    scripts: dict[str, Path],
    seconds: float,
    slices: int,
    run_wrk: Any,
    cpu: Any,
    before_slice: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """req/s and gateway CPU µs per request of each gateway of `scripts`, in turns;
    `before_slice`, if given, hears the name of each slice's gateway before it starts."""
    names = list(scripts)
    totals = {name: {"requests": 0, "seconds": 0.0, "cpu_s": 0.0} for name in names}
    for number in range(slices):
        for name in names if number % 2 == 0 else names[::-1]:
            if before_slice is not None:
                before_slice(name)
            gateway = started[name]
            before = cpu(gateway)
            result = run_wrk(
                gateway.url + "/process", scripts[name], COST_CONCURRENCY, seconds / slices
            )
            if result["non_2xx"] or result["connect_errors"] or result["read_errors"]:
                raise RuntimeError(f"{name}: errors under load: {result}")
            total = totals[name]
            total["requests"] += result["requests"]
            total["seconds"] += result["duration_us"] / 1e6
            total["cpu_s"] += cpu(gateway) - before
    return {
        name: {
            "requests": total["requests"],
            "rps": round(total["requests"] / total["seconds"], 1),
            "gateway_cpu_us": round(total["cpu_s"] * 1e6 / total["requests"], 1),
        }
        for name, total in totals.items()
    }


def flood(
    gateway: ServiceProcess,
    steady_script: Path,
    flood_script: Path,
    seconds: float,
    slices: int,
    run_wrk: Any,
) -> dict[str, Any]:
    """Key B's p99 (ms, median over slices) and refusals, without and with key A's flood."""
    url = gateway.url + "/process"
    runs: dict[str, list[dict[str, int]]] = {"alone": [], "flooded": []}
    floods: list[dict[str, int]] = []
    for number in range(2 * slices):
        flooded = number % 2 == 1
        flooder = None
        if flooded:
            # The flood runs a second longer on each side of B's run, so it covers it.
            def run_flood() -> None:
                floods.append(run_wrk(url, flood_script, FLOOD_CONNECTIONS, seconds / slices + 2))

            flooder = threading.Thread(target=run_flood)
            flooder.start()
            threading.Event().wait(1)
        runs["flooded" if flooded else "alone"].append(
            run_wrk(url, steady_script, STEADY_CONNECTIONS, seconds / slices)
        )
        if flooder is not None:
            flooder.join()

    def summary(results: list[dict[str, int]]) -> dict[str, float]:
        requests = sum(r["requests"] for r in results)
        return {
            "requests": requests,
            "rps": round(requests / (sum(r["duration_us"] for r in results) / 1e6), 1),
            "p99_ms": round(statistics.median(r["p99_us"] for r in results) / 1000, 2),
            "worst_p99_ms": round(max(r["p99_us"] for r in results) / 1000, 2),
            "not_200": sum(
                r[key] for r in results for key in ("non_2xx", "connect_errors", "read_errors")
            ),
        }

    flood_requests = sum(r["requests"] for r in floods)
    flood_rps = flood_requests / (sum(r["duration_us"] for r in floods) / 1e6)
    return {
        "key_b_alone": summary(runs["alone"]),
        "key_b_flooded": summary(runs["flooded"]),
        "key_a_flood": {
            "requests": flood_requests,
            "rps": round(flood_rps, 1),
            "times_its_limit": round(flood_rps / FLOOD_LIMIT_PER_S, 1),
            "refused": sum(r["non_2xx"] for r in floods),
        },
    }


def security_phases(
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
    print("security: open / API keys and a rate limit; a flood from one key", flush=True)
    bodies = [json.dumps({"data": t, "forward_to_model": True}) for t in texts]
    scripts = {
        "open": lua_script(bodies, out, "security_open"),
        "keys and limit": lua_script(bodies, out, "security_keyed", bearer(KEY_B)),
    }
    scripts["open, again"] = scripts["open"]
    steady = lua_script(bodies, out, "security_steady", bearer(KEY_B), STEADY_DELAY_MS)
    flooding = lua_script(bodies, out, "security_flood", bearer(KEY_A), FLOOD_DELAY_MS)
    with gateways(out, models, common_env) as started:
        for name, script in scripts.items():
            run_wrk(started[name].url + "/process", script, COST_CONCURRENCY, 5)
        measured = cost(started, scripts, seconds, slices, run_wrk, cpu)
        for name, result in measured.items():
            print(f"  {name:<16} {json.dumps(result)}", flush=True)
        flooded = flood(started["flooded"], steady, flooding, seconds, slices, run_wrk)
        for name, result in flooded.items():
            print(f"  {name:<16} {json.dumps(result)}", flush=True)
    return {"cost": measured, "flood": flooded}


def security_checks(security: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    cost_, flood_ = security["cost"], security["flood"]
    return [
        ("gateway forwarding req/s at c=64: API keys and a never-hit limit / neither",
         cost_["keys and limit"]["rps"] / cost_["open"]["rps"], 0.95, ">="),
        ("key B p99 with key A flooding / without",
         flood_["key_b_flooded"]["p99_ms"] / flood_["key_b_alone"]["p99_ms"], 2, "<="),
        ("key B answers other than 200 during the flood",
         flood_["key_b_flooded"]["not_200"], 0, "<="),
        ("key A's flood, as a multiple of its limit",
         flood_["key_a_flood"]["times_its_limit"], FLOOD_FACTOR, ">="),
    ]  # fmt: skip
