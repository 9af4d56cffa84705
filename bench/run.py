"""Throughput benchmark: both services as local processes, driven by wrk.

    python -m bench.run [--duration SECONDS] [--warmup SECONDS] [--out DIR]
                        [--gateway-workers N] [--slices N]

Starts service_b twice (batching on, batching off) and service_a (forwarding to the first)
from the working tree, each with its own venv, on free loopback ports; runs every load
phase with wrk (Debian package `wrk`), the phases that a target compares in alternating
slices; prints a markdown table and saves it with a JSON report in bench/results/. Needs
only the standard library (and devkit, from the repository root).
"""

import argparse
import contextlib
import csv
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import chaos
from bench.hardening import greedy_requests
from bench.lifecycle import lifecycle_checks, lifecycle_phases
from bench.observability import observability_checks, observability_phases
from bench.scale_out import scale_out_checks, scale_out_phases
from bench.security import security_checks, security_phases
from devkit.ports import free_port
from devkit.processes import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
LUA_TEMPLATE = ROOT / "bench" / "wrk_report.lua"
SAMPLE_TEXTS = ROOT / "service_b" / "data" / "holdout.csv"
READY_TIMEOUT_S = 300
THREADS_FOR_CONCURRENCY = {1: 1, 64: 2}
# uvicorn's access log is off in every service (both alike); the gateway still writes its
# one line per input. See the README's Benchmark section for its cost.
COMMON_ENV = {"ACCESS_LOG": "false"}
# Both services as a user starts them (compose, `python main.py`): 1 gateway worker and
# uvicorn's access log on, side by side with the benchmarked settings.
DEFAULTS_FORWARD = "process forward c=64 (defaults: 1 worker, access logs on)"
DEFAULTS_PREDICT = "predict c=64 (defaults: access log on)"
# The hardening phase: 200 slow-header clients and 500 idle connections against each
# service, with its default timeouts (settings HEADER_TIMEOUT_S, KEEPALIVE_TIMEOUT_S).
HARDENING_SLOW = 200
HARDENING_IDLE = 500
HEADER_TIMEOUT_S = 10.0
KEEPALIVE_TIMEOUT_S = 5.0
HARDENING_SECONDS = HEADER_TIMEOUT_S + 5
HARDENING_GREEDY_ROUNDS = 10
# The fault phases: how long the predictor stays down or frozen; the gateway's default
# BREAKER_MAX_OPEN_S, within which traffic must come back after a freeze.
FAULT_DOWN_S = 10.0
BREAKER_MAX_OPEN_S = 30.0


@dataclass
class Phase:
    name: str
    service: str
    path: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float
    """CPU (user and system) of the service's processes per request: steadier than req/s
    on a shared machine, and a cost of the service alone."""


@dataclass
class Service:
    name: str
    process: ServiceProcess

    @property
    def url(self) -> str:
        return self.process.url

    def rss_mb(self) -> float:
        """Resident memory of the server process and its children (uvicorn workers)."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return round(sum(_rss_kb(pid) for pid in pids) / 1024, 1)

    def cpu_seconds(self) -> float:
        """User and system CPU of the server process and its children so far."""
        return process_cpu_seconds(self.process)


def process_cpu_seconds(process: ServiceProcess) -> float:
    return sum(_cpu_seconds(pid) for pid in [process.pid, *_children(process.pid)])


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in found] + [
            grandchild for child in found for grandchild in _children(int(child))
        ]
    return []


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def running(
    name: str, folder: str, env: dict[str, str], log_dir: Path, stock_uvicorn: bool = False
) -> Iterator[Service]:
    """`folder`'s service, with its own venv, until the block ends; `stock_uvicorn` serves
    it without the connection limits (bench/stock_server.py), for comparison."""
    python = str(ROOT / folder / ".venv" / "bin" / "python")
    arguments = ["main.py"]
    if stock_uvicorn:
        package = "gateway" if folder == "service_a" else "predictor"
        arguments = ["-m", "bench.stock_server", package]
        env = {**env, "PYTHONPATH": str(ROOT)}
    process = ServiceProcess(
        folder,
        free_port(),
        {**COMMON_ENV, **env},
        log_dir / f"{name}.log",
        python=python,
        arguments=arguments,
    )
    try:
        process.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        yield Service(name, process)
    finally:
        process.stop()


def lua_script(
    bodies: list[str],
    folder: Path,
    name: str,
    headers: dict[str, str] | None = None,
    delay_ms: int = 0,
) -> Path:
    """A wrk script posting `bodies` in turn with `headers` (and Content-Type), each
    connection pausing `delay_ms` between requests (0: at full speed)."""
    entries = ",\n".join(f"  [==[{body}]==]" for body in bodies)
    sent = {"Content-Type": "application/json", **(headers or {})}
    header_table = ", ".join(f'["{key}"] = [==[{value}]==]' for key, value in sent.items())
    text = (
        LUA_TEMPLATE.read_text()
        .replace("__BODIES__", "{\n" + entries + "\n}", 1)
        .replace("__HEADERS__", "{ " + header_table + " }", 1)
        .replace("__DELAY_MS__", str(delay_ms), 1)
    )
    script = folder / f"{name}.lua"
    script.write_text(text)
    return script


def run_wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict[str, int]:
    threads = THREADS_FOR_CONCURRENCY.get(concurrency, 2)
    duration = f"{max(1, round(seconds))}s"  # wrk takes whole seconds
    command = [
        "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}", "--timeout", "10s",
        "-s", str(script), url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            summary: dict[str, int] = json.loads(line.removeprefix("BENCH_JSON "))
            return summary
    raise RuntimeError(f"wrk printed no summary:\n{output}")


@dataclass
class Load:
    """One load phase's target: a service's path and the wrk script that posts to it."""

    name: str
    service: Service
    path: str
    script: Path
    concurrency: int

    def run(self, seconds: float) -> dict[str, int]:
        cpu_before = self.service.cpu_seconds()
        result = run_wrk(self.service.url + self.path, self.script, self.concurrency, seconds)
        result["cpu_us"] = round((self.service.cpu_seconds() - cpu_before) * 1e6)
        return result


def phase(load: Load, seconds: float) -> Phase:
    return summarize(load, [load.run(seconds)])


def alternating_phases(loads: list[Load], seconds: float, slices: int) -> list[Phase]:
    """Phases run in turn in short slices, so drift in the machine's speed hits all alike,
    in one order, then the other.

    Each phase gets `seconds` in all. Its req/s is over all its slices; its p50 is the
    median of the slices' p50s and its p99 the highest slice p99 (wrk reports percentiles,
    not histograms, so slices cannot be merged exactly).
    """
    raws: dict[str, list[dict[str, int]]] = {load.name: [] for load in loads}
    for slice_number in range(slices):
        # Every other slice in reverse order: what a phase leaves behind (a backlog, warm
        # caches) then weighs on the phases before and after it alike.
        for load in loads if slice_number % 2 == 0 else loads[::-1]:
            raws[load.name].append(load.run(seconds / slices))
    return [summarize(load, raws[load.name]) for load in loads]


def summarize(load: Load, raws: list[dict[str, int]]) -> Phase:
    errors = sum(
        raw[key]
        for raw in raws
        for key in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")
    )
    requests = sum(raw["requests"] for raw in raws)
    result = Phase(
        name=load.name,
        service=load.service.name,
        path=load.path,
        concurrency=load.concurrency,
        requests=requests,
        rps=round(requests / (sum(raw["duration_us"] for raw in raws) / 1e6), 1),
        p50_ms=round(statistics.median(raw["p50_us"] for raw in raws) / 1000, 3),
        p99_ms=round(max(raw["p99_us"] for raw in raws) / 1000, 3),
        errors=errors,
        cpu_us_per_request=round(sum(raw["cpu_us"] for raw in raws) / max(1, requests), 1),
    )
    print(f"  {load.name:<34} {result.rps:>9.1f} req/s  p50 {result.p50_ms:>7.2f} ms  "
          f"p99 {result.p99_ms:>7.2f} ms  errors {result.errors}  "
          f"cpu {result.cpu_us_per_request} us/req", flush=True)  # fmt: skip
    return result


def sample_texts() -> list[str]:
    with SAMPLE_TEXTS.open(newline="") as rows:
        return [row["text"] for row in csv.DictReader(rows)]


def run(
    seconds: float, warmup: float, out: Path, gateway_workers: int, slices: int
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    out.mkdir(parents=True, exist_ok=True)
    texts = sample_texts()
    process_fwd = lua_script(
        [json.dumps({"data": t, "forward_to_model": True}) for t in texts], out, "process_fwd"
    )
    process_log = lua_script(
        [json.dumps({"data": t, "forward_to_model": False}) for t in texts], out, "process_log"
    )
    predict = lua_script([json.dumps({"input": t}) for t in texts], out, "predict")

    models = train_bench_model(out)
    predictor_env = {"MODEL_DIR": str(models)}
    model_call = model_call_phase(models / "v1")

    phases: list[Phase] = []
    memory: dict[str, dict[str, float]] = {}
    with (
        running(
            "service_b", "service_b", {**predictor_env, "BATCHING_ENABLED": "true"}, out
        ) as predictor,
        running(
            "service_b_unbatched", "service_b", {**predictor_env, "BATCHING_ENABLED": "false"}, out
        ) as unbatched,
        running(
            "service_b_pipeline",
            "service_b",
            {**predictor_env, "BATCHING_ENABLED": "true", "SCORING_PATH": "pipeline"},
            out,
        ) as pipeline_predictor,
        running(
            "service_b_defaults", "service_b", {**predictor_env, "ACCESS_LOG": "true"}, out
        ) as default_predictor,
        running(
            "service_a",
            "service_a",
            {"SERVICE_B_URL": predictor.url, "WORKERS": str(gateway_workers)},
            out,
        ) as gateway,
        running(
            "service_a_no_breaker",
            "service_a",
            {
                "SERVICE_B_URL": predictor.url,
                "WORKERS": str(gateway_workers),
                "BREAKER_ENABLED": "false",
                "RETRY_BUDGET_RATIO": "0",
            },
            out,
        ) as no_breaker_gateway,
        running(
            "service_a_stock",
            "service_a",
            {"SERVICE_B_URL": predictor.url, "WORKERS": str(gateway_workers)},
            out,
            stock_uvicorn=True,
        ) as stock_gateway,
        running(
            "service_a_to_pipeline",
            "service_a",
            {"SERVICE_B_URL": pipeline_predictor.url, "WORKERS": str(gateway_workers)},
            out,
        ) as gateway_to_pipeline,
        running(
            "service_a_defaults",
            "service_a",
            {"SERVICE_B_URL": default_predictor.url, "WORKERS": "1", "ACCESS_LOG": "true"},
            out,
        ) as default_gateway,
    ):
        print(f"warm-up {warmup:.0f} s per path", flush=True)
        for service, path, script in (
            (predictor, "/predict", predict),
            (unbatched, "/predict", predict),
            (gateway, "/process", process_fwd),
            (stock_gateway, "/process", process_fwd),
            (no_breaker_gateway, "/process", process_fwd),
            (pipeline_predictor, "/predict", predict),
            (gateway_to_pipeline, "/process", process_fwd),
            (default_predictor, "/predict", predict),
            (default_gateway, "/process", process_fwd),
        ):
            run_wrk(service.url + path, script, 64, warmup)
        memory = {s.name: {"after_warmup_mb": s.rss_mb()} for s in (gateway, predictor)}
        # Each target compares phases of one group; a group's phases alternate in slices.
        for concurrency in (1, 64):
            print(f"concurrency {concurrency}", flush=True)
            loads = [
                Load(f"predict c={concurrency} (batching on)", predictor, "/predict",
                     predict, concurrency),
                Load(f"process forward c={concurrency}", gateway, "/process", process_fwd,
                     concurrency),
                Load(f"predict c={concurrency} (batching off)", unbatched, "/predict",
                     predict, concurrency),
                Load(f"predict c={concurrency} (pipeline path)", pipeline_predictor, "/predict",
                     predict, concurrency),
                Load(f"process forward c={concurrency} (predictor on its pipeline path)",
                     gateway_to_pipeline, "/process", process_fwd, concurrency),
            ]  # fmt: skip
            if concurrency == 64:
                loads += [
                    Load("process forward c=64 (stock uvicorn)", stock_gateway, "/process",
                         process_fwd, 64),
                    Load("process forward c=64 (no breaker, no retries)", no_breaker_gateway,
                         "/process", process_fwd, 64),
                    Load(DEFAULTS_FORWARD, default_gateway, "/process", process_fwd, 64),
                    Load(DEFAULTS_PREDICT, default_predictor, "/predict", predict, 64),
                ]  # fmt: skip
            phases += alternating_phases(loads, seconds, slices)
        print("gateway alone (no forwarding), with and without the connection limits", flush=True)
        phases += alternating_phases(
            [
                Load("process no forward c=64", gateway, "/process", process_log, 64),
                Load("process no forward c=64 (stock uvicorn)", stock_gateway, "/process",
                     process_log, 64),
            ],
            seconds,
            slices,
        )  # fmt: skip
        for service in (gateway, predictor):
            memory[service.name]["after_run_mb"] = service.rss_mb()
        hardening = {
            service.name: hardening_phase(service, path, body, out)
            for service, path, body in (
                (gateway, "/process", {"data": texts[0], "forward_to_model": True}),
                (predictor, "/predict", {"input": texts[0]}),
            )
        }
    faults = fault_phases(texts, out, predictor_env, gateway_workers, seconds)
    lifecycle = lifecycle_phases(texts, out, models, COMMON_ENV, seconds)
    observability = observability_phases(
        texts, out, models, COMMON_ENV, seconds, slices, run_wrk, lua_script, process_cpu_seconds
    )
    security = security_phases(
        texts, out, models, COMMON_ENV, seconds, slices, run_wrk, lua_script, process_cpu_seconds
    )
    scale_out = scale_out_phases(
        texts, out, models, COMMON_ENV, seconds, slices, run_wrk, lua_script, process_cpu_seconds
    )

    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seconds_per_phase": seconds,
        "alternating_slices": slices,
        "gateway_workers": gateway_workers,
        "service_env": COMMON_ENV,
        "phases": [asdict(p) for p in phases],
        "memory": memory,
        "hardening": hardening,
        "faults": faults,
        "lifecycle": lifecycle,
        "observability": observability,
        "security": security,
        "scale_out": scale_out,
        "model_call": model_call,
        "requests_through": {
            name: sum(p.requests for p in phases if p.service == name or forwarded(p, name))
            for name in ("service_a", "service_b")
        },
    }
    report["targets"] = targets(report)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "latest.md").write_text(markdown(report))
    print(markdown(report))
    return report


def train_bench_model(out: Path) -> Path:
    """A model trained from the working tree's config and data, not a stale local one, in
    its own process (as the image does at build time): a predictor that trained at
    start-up carries the training's heap and threads and measured up to 2x slower."""
    models = out / "models"
    shutil.rmtree(models, ignore_errors=True)
    print("training the model", flush=True)
    subprocess.run(
        [str(ROOT / "service_b" / ".venv" / "bin" / "python"), "-m", "predictor.cli", "train",
         "--output-dir", str(models)],
        cwd=ROOT / "service_b", check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return models


def model_call_phase(version_dir: Path) -> dict[str, Any]:
    """bench/model_call.py in service_b's venv: the pipeline and its compiled path."""
    print("model call: pipeline and compiled path, 1 and 64 texts", flush=True)
    output = subprocess.run(
        [str(ROOT / "service_b" / ".venv" / "bin" / "python"), "-m", "bench.model_call",
         "--version-dir", str(version_dir), "--holdout", str(SAMPLE_TEXTS)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "service_b")},
        stdout=subprocess.PIPE, text=True, check=True,
    ).stdout  # fmt: skip
    [line] = [line for line in output.splitlines() if line.startswith("MODEL_CALL_JSON ")]
    result: dict[str, Any] = json.loads(line.removeprefix("MODEL_CALL_JSON "))
    print(f"  {json.dumps(result)}", flush=True)
    return result


def fault_phases(
    texts: list[str],
    out: Path,
    predictor_env: dict[str, str],
    gateway_workers: int,
    seconds: float,
) -> dict[str, Any]:
    """The predictor killed, then frozen, under load; then the gateway stopped under load.

    The gateway here has SERVICE_B_READ_TIMEOUT=2, so that a frozen predictor's calls time
    out (and open the breaker) well within the 10 s freeze.
    """
    print("faults", flush=True)
    forward = chaos.status_script(
        [json.dumps({"data": t, "forward_to_model": True}) for t in texts], out, "faults_fwd"
    )
    log_only = chaos.status_script(
        [json.dumps({"data": t, "forward_to_model": False}) for t in texts], out, "faults_log"
    )
    predictor_port = free_port()
    predictor_python = str(ROOT / "service_b" / ".venv" / "bin" / "python")
    env = {**COMMON_ENV, **predictor_env}

    started: list[ServiceProcess] = []  # every predictor started, all stopped at the end

    def start_predictor() -> ServiceProcess:
        process = ServiceProcess(
            "service_b", predictor_port, env, out / "faults_service_b.log", predictor_python
        )
        started.append(process)
        process.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        return process

    gateway_env = {
        "SERVICE_B_URL": f"http://127.0.0.1:{predictor_port}",
        "WORKERS": str(gateway_workers),
        "SERVICE_B_READ_TIMEOUT": "2",
    }
    predictor = start_predictor()
    try:
        with running("service_a_faults", "service_a", gateway_env, out) as gateway:
            run_wrk(gateway.url + "/process", lua_script(
                [json.dumps({"data": t}) for t in texts], out, "faults_warmup"), 64, 3)  # fmt: skip
            print("  predictor killed for 10 s under c=64", flush=True)
            killed, predictor = chaos.killed_predictor(
                gateway.process, predictor, start_predictor, forward, FAULT_DOWN_S
            )
            print(f"  {json.dumps(killed)}", flush=True)
            print("  predictor down, breaker open: 503s against log-only answers", flush=True)
            predictor.kill()
            open_breaker(gateway)
            outage = chaos.outage_cost(gateway.process, forward, log_only, seconds / 2)
            print(f"  {json.dumps(outage)}", flush=True)
            predictor = start_predictor()
            gateway.process.wait_until_ok("/ready", READY_TIMEOUT_S)
            print("  predictor frozen (SIGSTOP) for 10 s under c=16", flush=True)
            frozen = chaos.frozen_predictor(
                gateway.process, predictor, forward, FAULT_DOWN_S, BREAKER_MAX_OPEN_S
            )
            print(f"  {json.dumps(frozen)}", flush=True)
        with running("service_a_stopped", "service_a", gateway_env, out) as gateway:
            print("  gateway stopped (SIGTERM) under c=16", flush=True)
            stopped = chaos.stopped_gateway(
                gateway.process, json.dumps({"data": texts[0]}).encode(), 16
            )
            print(f"  {json.dumps(stopped)}", flush=True)
    finally:
        for process in started:
            process.stop()
    return {"killed": killed, "outage": outage, "frozen": frozen, "stopped": stopped}


def open_breaker(gateway: Service) -> None:
    """Forward until the gateway's /ready says its breaker is open."""
    for _ in range(100):
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", gateway.process.port, timeout=5)
            connection.request(
                "POST", "/process", body=b'{"data": "a cat"}',
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            connection.getresponse().read()
            connection.request("GET", "/ready")
            if b'"open"' in connection.getresponse().read():
                connection.close()
                return
            connection.close()
    raise RuntimeError("the gateway's breaker did not open")


def hardening_phase(service: Service, path: str, body: dict[str, Any], out: Path) -> dict[str, Any]:
    """Slow and idle clients against the service while one normal client uses it, then a
    stream of greedy requests while its memory is sampled."""
    print(f"hardening: {service.name}", flush=True)
    attacker = subprocess.Popen(
        [sys.executable, "-m", "bench.hardening", "attack", "--port", str(service.process.port),
         "--slow", str(HARDENING_SLOW), "--idle", str(HARDENING_IDLE),
         "--seconds", str(HARDENING_SECONDS)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1)  # the attack's connections are open
        latencies, failures = normal_client(service, path, body, HARDENING_SECONDS - 2)
        output, _ = attacker.communicate(timeout=HARDENING_SECONDS + 30)
    finally:
        if attacker.poll() is None:
            attacker.kill()
            attacker.wait()
    [line] = [line for line in output.splitlines() if line.startswith("HARDENING_JSON ")]
    attack = json.loads(line.removeprefix("HARDENING_JSON "))
    rss = RssSampler(service)
    with rss:
        refused = greedy_requests(service.process.port, path, HARDENING_GREEDY_ROUNDS)
    result = {
        "attack": attack,
        "normal_client": {
            "requests": len(latencies),
            "failures": failures,
            "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        },
        "greedy": {
            "requests": 2 * HARDENING_GREEDY_ROUNDS,
            "refused_413_431": refused,
            "rss_before_mb": rss.before_mb,
            "rss_peak_mb": rss.peak_mb,
        },
    }
    print(f"  {json.dumps(result)}", flush=True)
    return result


def normal_client(
    service: Service, path: str, body: dict[str, Any], seconds: float
) -> tuple[list[float], int]:
    """Requests one after another on one kept-alive connection: latencies and failures."""
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    failures = 0
    connection = http.client.HTTPConnection("127.0.0.1", service.process.port, timeout=10)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            connection.request("POST", path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", service.process.port, timeout=10)
        latencies.append(time.perf_counter() - started)
        failures += not ok
        time.sleep(0.005)
    connection.close()
    return latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class RssSampler:
    """The service's resident memory before a block and its peak during it (every 20 ms)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.before_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "RssSampler":
        self.before_mb = self.peak_mb = self.service.rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError):
                self.peak_mb = max(self.peak_mb, self.service.rss_mb())


def forwarded(p: Phase, name: str) -> bool:
    """Requests that reached the batching predictor through the gateway."""
    return name == "service_b" and p.service == "service_a" and "no forward" not in p.name


def targets(report: dict[str, Any]) -> list[dict[str, object]]:
    by_name = {p["name"]: p for p in report["phases"]}

    def rps(name: str) -> float:
        return float(by_name[name]["rps"])

    def p50(name: str) -> float:
        return float(by_name[name]["p50_ms"])

    def cpu(name: str) -> float:
        return float(by_name[name]["cpu_us_per_request"])

    checks = [
        (
            "gateway forward c=64 rps >= 0.6 x predict c=64 rps",
            rps("process forward c=64") / rps("predict c=64 (batching on)"),
            0.6,
            ">=",
        ),
        (
            "gateway forward c=1 p50 <= 2 x predict c=1 p50",
            p50("process forward c=1") / p50("predict c=1 (batching on)"),
            2.0,
            "<=",
        ),
        (
            "predict c=64 rps: batching on >= 3 x off",
            rps("predict c=64 (batching on)") / rps("predict c=64 (batching off)"),
            3.0,
            ">=",
        ),
        (
            "predict c=1 p50: batching on <= 1.2 x off",
            p50("predict c=1 (batching on)") / p50("predict c=1 (batching off)"),
            1.2,
            "<=",
        ),
        ("errors and non-2xx in all phases", sum(p["errors"] for p in report["phases"]), 0, "<="),
    ]
    checks += [
        (
            "gateway CPU per forwarded request: connection limits <= 1.05 x stock uvicorn",
            cpu("process forward c=64") / cpu("process forward c=64 (stock uvicorn)"),
            1.05,
            "<=",
        ),
        (
            "gateway CPU per logged-only request: connection limits <= 1.05 x stock uvicorn",
            cpu("process no forward c=64") / cpu("process no forward c=64 (stock uvicorn)"),
            1.05,
            "<=",
        ),
    ]
    checks += fault_checks(report["faults"])
    checks += lifecycle_checks(report["lifecycle"])
    checks += observability_checks(report["observability"])
    checks += security_checks(report["security"])
    checks += scale_out_checks(report["scale_out"])
    checks += model_call_checks(report["model_call"])
    checks += [
        (
            "predict c=1 p50: compiled path <= 0.5 x pipeline path",
            p50("predict c=1 (batching on)") / p50("predict c=1 (pipeline path)"),
            0.5,
            "<=",
        ),
        (
            "gateway forward c=64 rps: compiled predictor >= 1.0 x pipeline-path predictor",
            rps("process forward c=64")
            / rps("process forward c=64 (predictor on its pipeline path)"),
            1.0,
            ">=",
        ),
    ]
    checks.append(
        (
            "forward c=64 rps: breaker and retries on >= 0.97 x off",
            rps("process forward c=64") / rps("process forward c=64 (no breaker, no retries)"),
            0.97,
            ">=",
        )
    )
    checks.append(
        (
            "gateway CPU per forwarded request: breaker and retries on <= 1.03 x off",
            cpu("process forward c=64") / cpu("process forward c=64 (no breaker, no retries)"),
            1.03,
            "<=",
        )
    )
    for name, result in report["hardening"].items():
        attack = result["attack"]
        late = sum(
            kind["still_open"] + (kind["max_lifetime_s"] > limit + 1)
            for kind, limit in (
                (attack["slow_header"], HEADER_TIMEOUT_S),
                (attack["idle_fresh"], HEADER_TIMEOUT_S),
                (attack["idle_kept_alive"], KEEPALIVE_TIMEOUT_S),
            )
        )
        checks += [
            (f"{name}: kinds of slow/idle clients not closed within their timeout + 1 s",
             late, 0, "<="),
            (f"{name}: normal client p99 ms during the attack",
             result["normal_client"]["p99_ms"], 50, "<"),
            (f"{name}: normal client failures during the attack",
             result["normal_client"]["failures"], 0, "<="),
            (f"{name}: RSS growth MB under 100 MiB bodies and 64 MiB headers",
             round(result["greedy"]["rss_peak_mb"] - result["greedy"]["rss_before_mb"], 1),
             20, "<"),
        ]  # fmt: skip
    checks += [
        (
            f"{name} RSS growth MB (warm-up to end)",
            round(mem["after_run_mb"] - mem["after_warmup_mb"], 1),
            20,
            "<",
        )
        for name, mem in report["memory"].items()
    ]
    results = []
    for label, value, limit, op in checks:
        met = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
        shown = float(f"{value:.3g}") if 0 < abs(value) < 1e-3 else round(value, 3)
        results.append({"target": label, "value": shown, "limit": f"{op} {limit}",
                        "met": met})  # fmt: skip
    return results


def model_call_checks(model_call: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    calls, answers = model_call["call_us"], model_call["answers"]
    texts = f"holdout + {answers['generated']:,} generated texts"
    return [
        ("model call, 1 text: pipeline / compiled path",
         calls["1 text"]["pipeline"] / calls["1 text"]["compiled"], 4.0, ">="),
        ("model call, 64 texts: pipeline / compiled path",
         calls["64 texts"]["pipeline"] / calls["64 texts"]["compiled"], 1.5, ">="),
        (f"compiled vs pipeline, {texts}: classes that differ",
         answers["class_mismatches"], 0, "<="),
        (f"compiled vs pipeline, {texts}: largest probability difference",
         answers["largest_probability_difference"], 1e-9, "<="),
    ]  # fmt: skip


def fault_checks(faults: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    def known(value: float | None) -> float:
        return float("inf") if value is None else value

    killed, outage, frozen, stopped = (faults[k] for k in ("killed", "outage", "frozen", "stopped"))
    unexpected = sum(n for status, n in killed["statuses"].items() if status not in ("200", "503"))
    return [
        ("predictor killed, c=64: answers other than 200 and 503", unexpected, 0, "<="),
        ("predictor killed: s from ready again to the first 200",
         known(killed["first_200_after_ready_s"]), 1.0, "<="),
        ("predictor down, breaker open, c=64: 503 p99 ms", outage["refused_p99_ms"], 50, "<="),
        ("predictor down: 503 rps >= 0.9 x log-only rps",
         outage["refused_rps"] / outage["log_only_rps"], 0.9, ">="),
        ("predictor frozen, c=16: 503 p99 ms once the breaker is open",
         known(frozen["refused_p99_ms_once_open"]), 50, "<="),
        ("predictor frozen: /health p99 ms", known(frozen["health_p99_ms"]), 20, "<"),
        ("predictor frozen: s from SIGCONT to the first 200",
         known(frozen["first_200_after_thaw_s"]), BREAKER_MAX_OPEN_S, "<="),
        ("gateway SIGTERM, c=16: answers other than 200", stopped["non_200"], 0, "<="),
        ("gateway SIGTERM: errors other than refused connections and resets",
         stopped["other_errors"], 0, "<="),
        ("gateway SIGTERM: exit status", stopped["exit_code"], 0, "<="),
        ("gateway SIGTERM: resets of kept-alive connections", stopped["resets"], 0, "<="),
    ]  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"Benchmark of {report['created_at']} on {machine['cores']} cores, "
        f"Python {machine['python']}, {report['seconds_per_phase']} s per phase, "
        f"compared phases in {report['alternating_slices']} alternating slices, "
        f"service_a workers: {report['gateway_workers']}, "
        f"env {report['service_env']} (load generator: wrk).",
        "",
        "| phase | concurrency | requests | req/s | p50 ms | p99 ms | errors | CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {p['name']} | {p['concurrency']} | {p['requests']} | {p['rps']} | "
        f"{p['p50_ms']} | {p['p99_ms']} | {p['errors']} | {p['cpu_us_per_request']} |"
        for p in report["phases"]
    ]
    lines += ["", "| service | RSS after warm-up MB | RSS after run MB | requests served |",
              "|---|---:|---:|---:|"]  # fmt: skip
    lines += [
        f"| {name} | {mem['after_warmup_mb']} | {mem['after_run_mb']} | "
        f"{report['requests_through'][name]} |"
        for name, mem in report["memory"].items()
    ]
    lines += ["", "| hardening | slow-header closed after (max s) | idle closed after (max s) "
              "| kept-alive idle closed after (max s) | still open | normal client p99 ms "
              "| failures | greedy refused | RSS peak growth MB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, result in report["hardening"].items():
        attack, client, greedy = result["attack"], result["normal_client"], result["greedy"]
        still_open = sum(kind["still_open"] for kind in attack.values())
        lines.append(
            f"| {name} | {attack['slow_header']['max_lifetime_s']} | "
            f"{attack['idle_fresh']['max_lifetime_s']} | "
            f"{attack['idle_kept_alive']['max_lifetime_s']} | {still_open} | "
            f"{client['p99_ms']} | {client['failures']} | "
            f"{greedy['refused_413_431']}/{greedy['requests']} | "
            f"{round(greedy['rss_peak_mb'] - greedy['rss_before_mb'], 1)} |"
        )
    model_call = report["model_call"]
    scorers = list(model_call["call_us"]["1 text"])
    lines += ["", "| model call µs (median of " + str(model_call["rounds"]) + " rounds) | "
              + " | ".join(scorers) + " |", "|---|" + "---:|" * len(scorers)]  # fmt: skip
    lines += [
        f"| {size} | " + " | ".join(str(by_scorer[name]) for name in scorers) + " |"
        for size, by_scorer in model_call["call_us"].items()
    ]
    faults = report["faults"]
    lines += ["", "| fault phase | what clients saw |", "|---|---|"]
    lines += [f"| {name} | `{json.dumps(result)}` |" for name, result in faults.items()]
    lines += [
        f"| lifecycle: {name} | `{json.dumps(result)}` |"
        for name, result in report["lifecycle"].items()
    ]
    lines += [
        f"| observability: {name} | `{json.dumps(result)}` |"
        for name, result in report["observability"].items()
    ]
    lines += [
        f"| security: {name} | `{json.dumps(result)}` |"
        for name, result in report["security"].items()
    ]
    lines += [
        f"| scale out: {name} | `{json.dumps(result)}` |"
        for name, result in report["scale_out"].items()
    ]
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    lines += [
        f"| {t['target']} | {t['value']} | {t['limit']} | {'yes' if t['met'] else '**no**'} |"
        for t in report["targets"]
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark both services with wrk.")
    parser.add_argument("--duration", type=float, default=40, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per path")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--gateway-workers", type=int, default=2, help="uvicorn workers of service_a (WORKERS)"
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=4,
        help="slices in which the phases compared by a target alternate",
    )
    parser.add_argument(
        "--only",
        choices=["lifecycle", "observability", "security", "scale-out"],
        help="run only these phases (and their targets), e.g. while working on them",
    )
    args = parser.parse_args()
    if args.only == "lifecycle":
        run_lifecycle_only(args.duration, args.out)
    elif args.only in SLICED_PHASES:
        run_sliced_only(args.only, args.duration, args.out, args.slices)
    else:
        run(args.duration, args.warmup, args.out, args.gateway_workers, args.slices)


def print_targets(checks: list[tuple[str, float, float, str]]) -> None:
    """The targets of a phase run on its own, as the full report's table shows them."""
    print("| target | measured | limit | met |\n|---|---:|---:|---|")
    for label, value, limit, op in checks:
        met = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
        print(f"| {label} | {round(value, 3)} | {op} {limit} | {'yes' if met else '**no**'} |")


def run_lifecycle_only(seconds: float, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    models = train_bench_model(out)
    lifecycle = lifecycle_phases(sample_texts(), out, models, COMMON_ENV, seconds)
    print(json.dumps(lifecycle, indent=2))
    print_targets(lifecycle_checks(lifecycle))


PhaseRunner = Callable[..., dict[str, Any]]
PhaseChecks = Callable[[dict[str, Any]], list[tuple[str, float, float, str]]]
SLICED_PHASES: dict[str, tuple[PhaseRunner, PhaseChecks]] = {
    "observability": (observability_phases, observability_checks),
    "security": (security_phases, security_checks),
    "scale-out": (scale_out_phases, scale_out_checks),
}
"""The phases that take turns in slices and share bench.run's wrk and CPU readers."""


def run_sliced_only(name: str, seconds: float, out: Path, slices: int) -> None:
    """One of SLICED_PHASES on its own: its report in `out`/<name>.json, then its targets."""
    phases, checks = SLICED_PHASES[name]
    out.mkdir(parents=True, exist_ok=True)
    models = train_bench_model(out)
    result = phases(
        sample_texts(), out, models, COMMON_ENV, seconds, slices, run_wrk, lua_script,
        process_cpu_seconds,
    )  # fmt: skip
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print_targets(checks(result))


if __name__ == "__main__":
    main()
