"""The benchmark's model lifecycle phases: versions activated back and forth under load,
serving while a training job runs, and how long an activation takes.

The predictor here runs 2 workers on one models folder, so an activation answered by one
worker reaches the other through the folder's record (MODEL_POLL_S): a probe (chaos.Probe,
keeping the bodies) records which version each answer names, and the phase checks that
every answer sent MODEL_POLL_S after an activation carries the new version.
"""

import http.client
import json
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import chaos
from devkit.ports import free_port
from devkit.processes import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-admin-token-0123456789"
MODEL_POLL_S = 1.0
"""Below the 2 s between activations, so each activation leaves a window in which every
answer must carry its version."""
ACTIVATION_LOAD_S = 30.0
ACTIVATION_EVERY_S = 2.0
TRAINING_SLICES = 4
READY_TIMEOUT_S = 300.0
PROBE_BODY = json.dumps({"data": "my cat purrs on the sofa"}).encode()


def version_of(answer: chaos.Answer) -> str | None:
    """The model version a forwarded answer names, if it is one."""
    try:
        prediction = json.loads(answer.body).get("model_prediction") or {}
    except (ValueError, AttributeError):
        return None
    version = prediction.get("model_version")
    return version if isinstance(version, str) else None


def admin_call(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 300 and response.status != 429:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload) if response.status < 300 else None
    finally:
        connection.close()


@contextmanager
def lifecycle_services(
    out: Path, models: Path, common_env: dict[str, str]
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """A 2-worker predictor on a copy of `models` with a second version, and a gateway."""
    folder = out / "lifecycle_models"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(models, folder)
    subprocess.run(
        [str(ROOT / "service_b" / ".venv" / "bin" / "python"), "-m", "predictor.cli", "train",
         "--output-dir", str(folder)],
        cwd=ROOT / "service_b", check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    predictor_env = {
        **common_env,
        "MODEL_DIR": str(folder),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "WORKERS": "2",
        "MODEL_POLL_S": str(MODEL_POLL_S),
    }
    with ExitStack() as stack:
        predictor = ServiceProcess(
            "service_b",
            free_port(),
            predictor_env,
            out / "lifecycle_service_b.log",
            python=str(ROOT / "service_b" / ".venv" / "bin" / "python"),
        )
        stack.callback(predictor.stop)
        predictor.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        gateway = ServiceProcess(
            "service_a",
            free_port(),
            {**common_env, "SERVICE_B_URL": predictor.url},
            out / "lifecycle_service_a.log",
            python=str(ROOT / "service_a" / ".venv" / "bin" / "python"),
        )
        stack.callback(gateway.stop)
        gateway.start().wait_until_ok("/ready", READY_TIMEOUT_S)
        yield predictor, gateway


def activation_idle(predictor: ServiceProcess) -> dict[str, float]:
    """Seconds to activate v1, never loaded yet (the predictor starts on the newest, v2),
    and then v2, still loaded, with no load."""
    timings = {}
    for name, version in (("first_load_s", "v1"), ("already_loaded_s", "v2")):
        sent = time.monotonic()
        admin_call(predictor.port, "POST", f"/models/{version}/activate")
        timings[name] = round(time.monotonic() - sent, 4)
        time.sleep(MODEL_POLL_S + 0.5)  # the other worker follows
    return timings


def activation_under_load(
    predictor: ServiceProcess, gateway: ServiceProcess, forward: Path
) -> dict[str, Any]:
    """wrk at c=16 on /process for ACTIVATION_LOAD_S while v1 and v2 are activated in turn
    every ACTIVATION_EVERY_S; then which answers still carried the old version."""
    activations: list[dict[str, Any]] = []
    with (
        chaos.Probe(gateway.port, "POST", "/process", PROBE_BODY, keep_bodies=True) as probe,
        chaos.wrk_in_background(
            gateway.url + "/process", forward, 16, ACTIVATION_LOAD_S
        ) as summary,
    ):
        started = time.monotonic()
        turn = 0
        while time.monotonic() - started < ACTIVATION_LOAD_S - ACTIVATION_EVERY_S:
            version = ("v2", "v1")[turn % 2]
            sent = time.monotonic()
            answer = admin_call(predictor.port, "POST", f"/models/{version}/activate")
            done = time.monotonic()
            activations.append({
                "version": version, "sent_at": sent, "done_at": done,
                "http_s": round(done - sent, 4), "load_s": answer["load_seconds"],
            })  # fmt: skip
            turn += 1
            time.sleep(max(0.0, sent + ACTIVATION_EVERY_S - time.monotonic()))
        load = summary()
    stale = 0
    checked = 0
    slowest = 0.0  # from an activation's answer to the last answer with the old version
    for current, following in zip(activations, [*activations[1:], None], strict=True):
        window_end = following["sent_at"] if following else float("inf")
        for answer in probe.answers:
            if not current["done_at"] <= answer.at < window_end:
                continue
            old = version_of(answer) != current["version"]
            if old:
                slowest = max(slowest, answer.at - current["done_at"])
            if answer.at >= current["done_at"] + MODEL_POLL_S:
                checked += 1
                stale += old
    statuses = load["statuses"]
    return {
        "activations": len(activations),
        "statuses": statuses,
        "non_2xx": sum(n for status, n in statuses.items() if not status.startswith("2")),
        "socket_errors": sum(
            int(load[kind]) for kind in ("connect_errors", "read_errors", "write_errors")
        )
        + int(load["timeouts"]),
        "probe_answers_checked": checked,
        "stale_answers_after_poll": stale,
        "slowest_switch_s": round(slowest, 3),
        "probe_failures": sum(answer.status != 200 for answer in probe.answers),
        "activation_http_s_max_under_load": max(a["http_s"] for a in activations),
        "activation_load_s": [a["load_s"] for a in activations],
    }


@contextmanager
def training_running(predictor: ServiceProcess) -> Iterator[None]:
    """Training jobs back to back while the block runs (one starts as soon as one ends),
    starting once the first one runs; at the end, waits until no job is left."""
    stop = threading.Event()

    def busy() -> int:
        jobs = admin_call(predictor.port, "GET", "/train/jobs?limit=10")["jobs"]
        return sum(job["status"] in ("queued", "running") for job in jobs)

    def feed() -> None:
        while not stop.is_set():
            if busy() < 2:
                admin_call(predictor.port, "POST", "/train", {"activate": "never"})
            stop.wait(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        while not any(
            job["status"] == "running"
            for job in admin_call(predictor.port, "GET", "/train/jobs?limit=10")["jobs"]
        ):
            time.sleep(0.1)
        yield
    finally:
        stop.set()
        feeder.join()
        while busy():
            time.sleep(0.2)


def predict_while_training(
    predictor: ServiceProcess, predict: Path, seconds: float
) -> dict[str, Any]:
    """/predict at c=1, in alternating slices with and without a training job running."""
    slice_s = max(2.0, seconds / TRAINING_SLICES)
    results: dict[str, list[dict[str, Any]]] = {"idle": [], "training": []}
    for number in range(TRAINING_SLICES):
        for kind in ("idle", "training") if number % 2 == 0 else ("training", "idle"):
            with ExitStack() as stack:
                if kind == "training":
                    stack.enter_context(training_running(predictor))
                with chaos.wrk_in_background(
                    predictor.url + "/predict", predict, 1, slice_s
                ) as summary:
                    results[kind].append(summary())
    jobs = admin_call(predictor.port, "GET", "/train/jobs?limit=1000")["jobs"]
    return {
        kind: {
            "p50_ms": round(statistics.median(r["p50_us"] for r in runs) / 1000, 3),
            "p99_ms": round(max(r["p99_us"] for r in runs) / 1000, 3),
            "requests": sum(r["requests"] for r in runs),
            "non_2xx": sum(
                n for r in runs for status, n in r["statuses"].items() if status != "200"
            ),
        }
        for kind, runs in results.items()
    } | {
        "jobs_succeeded": sum(job["status"] == "succeeded" for job in jobs),
        "jobs_failed": sum(job["status"] == "failed" for job in jobs),
    }


def lifecycle_phases(
    texts: list[str], out: Path, models: Path, common_env: dict[str, str], seconds: float
) -> dict[str, Any]:
    print("model lifecycle", flush=True)
    forward = chaos.status_script(
        [json.dumps({"data": t, "forward_to_model": True}) for t in texts], out, "lifecycle_fwd"
    )
    predict = chaos.status_script([json.dumps({"input": t}) for t in texts], out, "lifecycle_pr")
    with lifecycle_services(out, models, common_env) as (predictor, gateway):
        print("  activation with no load, then v1 and v2 in turn every 2 s under c=16", flush=True)
        activation = {
            "idle": activation_idle(predictor),
            **activation_under_load(predictor, gateway, forward),
        }
        print(f"  {json.dumps(activation)}", flush=True)
        print("  /predict c=1 with and without a training job running", flush=True)
        training = predict_while_training(predictor, predict, seconds)
        print(f"  {json.dumps(training)}", flush=True)
    return {"activation": activation, "training": training}


def lifecycle_checks(lifecycle: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    activation, training = lifecycle["activation"], lifecycle["training"]
    return [
        ("activations under c=16: non-2xx answers", activation["non_2xx"], 0, "<="),
        ("activations under c=16: socket errors", activation["socket_errors"], 0, "<="),
        ("activations: answers with the old version MODEL_POLL_S after an activation",
         activation["stale_answers_after_poll"], 0, "<="),
        ("activations: s from an activation to the last answer of the old version",
         activation["slowest_switch_s"], MODEL_POLL_S, "<="),
        ("activation, no load, of a version never loaded: s",
         activation["idle"]["first_load_s"], 1.0, "<"),
        ("activation, no load, of a version still loaded: s",
         activation["idle"]["already_loaded_s"], 1.0, "<"),
        ("predict c=1 p50: training running / idle",
         training["training"]["p50_ms"] / training["idle"]["p50_ms"], 1.5, "<="),
        ("predict while training: non-2xx answers",
         training["training"]["non_2xx"] + training["idle"]["non_2xx"], 0, "<="),
    ]  # fmt: skip
