"""The benchmark's fault phases: the predictor killed, the predictor frozen, the gateway
stopped, each under load, with what clients saw, measured side by side in one run.

Each phase has its own processes (a gateway and a predictor of its own), so the faults
do not touch the other phases. Load comes from wrk with bench/wrk_statuses.lua, which
counts the answers by status; a probe thread sends one request every PROBE_INTERVAL_S on
its own connection and records when and what each answer was.
"""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.processes import ServiceProcess

PROBE_INTERVAL_S = 0.02
LUA_TEMPLATE = Path(__file__).resolve().parent / "wrk_statuses.lua"


@dataclass
class Answer:
    at: float
    status: int  # 0: no answer; `error` says why
    latency_s: float
    error: str = ""  # "refused", "reset", "timeout" or "other"
    body: bytes = b""  # kept when the probe keeps bodies


def error_kind(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return "reset"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "other"


@dataclass
class Probe:
    """One request every PROBE_INTERVAL_S to `path`, in a thread, until stopped."""

    port: int
    method: str
    path: str
    body: bytes | None = None
    interval_s: float = PROBE_INTERVAL_S
    keep_bodies: bool = False
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Probe":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        headers = {"Content-Type": "application/json"} if self.body else {}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                connection.request(self.method, self.path, body=self.body, headers=headers)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as error:
                status, kind, body = 0, error_kind(error), b""
                connection.close()
            else:
                kind = ""
            kept = body if self.keep_bodies else b""
            self.answers.append(Answer(started, status, time.monotonic() - started, kind, kept))
            self._stop.wait(self.interval_s)
        connection.close()

    def first(self, status: int, after: float) -> float | None:
        """When the first answer with `status` sent after `after` was sent, if any."""
        return next((a.at for a in self.answers if a.at >= after and a.status == status), None)

    def p99_ms(self, status: int | None = None, after: float = 0.0) -> float | None:
        latencies = sorted(
            a.latency_s
            for a in self.answers
            if a.at >= after and (status is None or a.status == status)
        )
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 2)


def status_script(bodies: list[str], out: Path, name: str) -> Path:
    entries = ",\n".join(f"  [==[{body}]==]" for body in bodies)
    script = out / f"{name}.lua"
    script.write_text(LUA_TEMPLATE.read_text().replace("__BODIES__", "{\n" + entries + "\n}", 1))
    return script


@contextmanager
def wrk_in_background(
    url: str, script: Path, concurrency: int, seconds: float
) -> Iterator[Callable[[], dict[str, Any]]]:
    """wrk running for `seconds`; the block gets a function that waits for its summary."""
    threads = min(2, concurrency)
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
               "--timeout", "15s", "-s", str(script), url]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def summary() -> dict[str, Any]:
        output, _ = process.communicate(timeout=seconds + 60)
        for line in output.splitlines():
            if line.startswith("STATUS_JSON "):
                result: dict[str, Any] = json.loads(line.removeprefix("STATUS_JSON "))
                return result
        raise RuntimeError(f"wrk printed no summary:\n{output}")

    try:
        yield summary
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


LOAD_SLICE_S = 2.0
"""Length of each wrk run of a load that lasts until it is stopped."""

AFTER_READY_S = 10.0
"""How long the load goes on once the restarted predictor is ready."""


@contextmanager
def wrk_until_stopped(
    url: str, script: Path, concurrency: int
) -> Iterator[Callable[[], dict[str, Any]]]:
    """wrk in back-to-back slices of LOAD_SLICE_S, in a thread, until the block calls the
    function it gets, which stops the load and returns the slices' summary (statuses
    merged, socket errors summed)."""
    stop = threading.Event()
    slices: list[dict[str, Any]] = []

    def run() -> None:
        while not stop.is_set():
            with wrk_in_background(url, script, concurrency, LOAD_SLICE_S) as summary:
                slices.append(summary())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop_and_summarize() -> dict[str, Any]:
        stop.set()
        thread.join()
        errors = ("connect_errors", "read_errors", "write_errors")
        return {
            "statuses": merge_statuses(slices),
            **{kind: sum(int(result[kind]) for result in slices) for kind in errors},
        }

    try:
        yield stop_and_summarize
    finally:
        stop.set()
        thread.join()


def killed_predictor(
    gateway: ServiceProcess,
    predictor: ServiceProcess,
    restart: Callable[[], ServiceProcess],
    forward: Path,
    down_s: float,
) -> tuple[dict[str, Any], ServiceProcess]:
    """SIGKILL the predictor under c=64 forwarding for `down_s`, then start it again; the
    load goes on until AFTER_READY_S after it is ready, however long its start takes."""
    body = json.dumps({"data": "a dog barking at the mailman"}).encode()
    with (
        Probe(gateway.port, "POST", "/process", body) as probe,
        wrk_until_stopped(gateway.url + "/process", forward, 64) as stop_load,
    ):
        time.sleep(2)
        predictor.kill()  # SIGKILL, as in a crash
        time.sleep(down_s)
        restarted = restart()
        ready_at = time.monotonic()
        time.sleep(AFTER_READY_S)
        result = stop_load()
    first_200 = probe.first(200, ready_at)
    return {
        "statuses": result["statuses"],
        "socket_errors": sum(
            result[kind] for kind in ("connect_errors", "read_errors", "write_errors")
        ),
        "first_200_after_ready_s": None if first_200 is None else round(first_200 - ready_at, 3),
    }, restarted


def outage_cost(
    gateway: ServiceProcess, forward: Path, log_only: Path, seconds: float
) -> dict[str, Any]:
    """With the predictor down and the breaker open: 503s against log-only answers, in
    alternating slices of c=64."""
    slices: dict[str, list[dict[str, Any]]] = {"refused": [], "log_only": []}
    for _ in range(4):
        for name, script in (("refused", forward), ("log_only", log_only)):
            with wrk_in_background(gateway.url + "/process", script, 64, seconds / 4) as summary:
                slices[name].append(summary())

    def total_rps(results: list[dict[str, Any]]) -> float:
        requests = sum(int(r["requests"]) for r in results)
        return round(requests / (sum(int(r["duration_us"]) for r in results) / 1e6), 1)

    return {
        "refused_rps": total_rps(slices["refused"]),
        "log_only_rps": total_rps(slices["log_only"]),
        "refused_p99_ms": round(max(r["p99_us"] for r in slices["refused"]) / 1000, 2),
        "log_only_p99_ms": round(max(r["p99_us"] for r in slices["log_only"]) / 1000, 2),
        "refused_statuses": merge_statuses(slices["refused"]),
    }


def merge_statuses(results: list[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            merged[status] = merged.get(status, 0) + count
    return merged


def frozen_predictor(
    gateway: ServiceProcess, predictor: ServiceProcess, forward: Path, frozen_s: float,
    max_open_s: float,
) -> dict[str, Any]:  # fmt: skip
    """SIGSTOP the predictor under c=16 forwarding for `frozen_s`, then SIGCONT."""
    body = json.dumps({"data": "a dog barking at the mailman"}).encode()
    with (
        Probe(gateway.port, "POST", "/process", body) as forwards,
        Probe(gateway.port, "GET", "/health") as health,
        wrk_in_background(
            gateway.url + "/process", forward, 16, frozen_s + max_open_s + 4
        ) as summary,
    ):
        time.sleep(2)
        frozen_at = time.monotonic()
        os.kill(predictor.pid, signal.SIGSTOP)
        try:
            time.sleep(frozen_s)
        finally:
            os.kill(predictor.pid, signal.SIGCONT)
        thawed_at = time.monotonic()
        result = summary()
    first_503 = forwards.first(503, frozen_at)
    first_200 = forwards.first(200, thawed_at)
    opened_at = first_503 if first_503 is not None else thawed_at
    refused = [a for a in forwards.answers if opened_at <= a.at < thawed_at and a.status == 503]
    return {
        "statuses": result["statuses"],
        "refused_p99_ms_once_open": forwards.p99_ms(503, after=opened_at),
        "refused_after_open": len(refused),
        "health_p99_ms": health.p99_ms(),
        "health_failures": sum(1 for a in health.answers if a.status != 200),
        "first_200_after_thaw_s": None if first_200 is None else round(first_200 - thawed_at, 3),
    }


def stopped_gateway(gateway: ServiceProcess, body: bytes, clients: int) -> dict[str, Any]:
    """SIGTERM the gateway while `clients` keep-alive clients forward, one request after
    another each (Python clients, not wrk: wrk cannot tell a refused connection from a
    reset one)."""
    probes = [Probe(gateway.port, "POST", "/process", body, interval_s=0) for _ in range(clients)]
    with ExitStack() as running_clients:
        for probe in probes:
            running_clients.enter_context(probe)
        time.sleep(3)
        stopped_at = time.monotonic()
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        exit_code = gateway.process.wait(timeout=30)
        exited_after = time.monotonic() - stopped_at
        time.sleep(1)
    answers = [answer for probe in probes for answer in probe.answers]
    statuses: dict[str, int] = {}
    for answer in answers:
        key = str(answer.status) if answer.status else answer.error
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "answers": statuses,
        "non_200": sum(1 for a in answers if a.status not in (0, 200)),
        "refused_connections": statuses.get("refused", 0),
        "resets": statuses.get("reset", 0),
        "other_errors": statuses.get("timeout", 0) + statuses.get("other", 0),
        "exit_code": exit_code,
        "exited_after_s": round(exited_after, 2),
    }
