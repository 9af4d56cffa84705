"""Metrics of services with several worker processes, and the trace context from the
gateway to the predictor, with both services as real processes on loopback ports."""

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import aiohttp
import httpx
import pytest

from devkit.metrics import scraped_total, worker_total
from devkit.processes import ServiceProcess, worker_pids
from tests.support.services import Services

pytestmark = pytest.mark.integration

LOGGED_ONLY = {"data": "my cat purrs", "forward_to_model": False}
FORWARD = {"data": "my dog loves to fetch the ball", "forward_to_model": True}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
WORKER_START_TIMEOUT_S = 60.0


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


def send(url: str, body: Mapping[str, object], count: int, concurrency: int = 16) -> list[int]:
    """POST `body` to `url` `count` times from `concurrency` clients, each request on a new
    connection (so the kernel hands them to either worker); the statuses."""

    async def run() -> list[int]:
        statuses: list[int] = []
        remaining = iter(range(count))
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def client() -> None:
                for _ in remaining:
                    async with session.post(url, json=body) as response:
                        await response.read()
                        statuses.append(response.status)

            await asyncio.gather(*(client() for _ in range(concurrency)))
        return statuses

    return asyncio.run(run())


def wait_for_workers(supervisor: ServiceProcess, count: int, other_than: set[int]) -> set[int]:
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        pids = worker_pids(supervisor.pid)
        if len(pids) == count and not pids & other_than:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"workers did not come back:\n{supervisor.log_tail()}")


def test_two_gateway_workers_count_every_request_once(
    services: Services, http: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    gateway = services.start("service_a", WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    pids = wait_for_workers(gateway, 2, set())

    statuses = send(f"{gateway.url}/process", LOGGED_ONLY, 2_000)

    assert statuses == [200] * 2_000
    # Whichever worker answers the scrape, it reports the requests of both.
    for _ in range(4):
        scraped = http.get(f"{gateway.url}/metrics").text
        total = scraped_total(
            scraped, "http_requests_total", route="/process", method="POST", status="200"
        )
        assert total == 2_000
        assert (
            scraped_total(scraped, "gateway_inputs_logged_total", forward_to_model="false") == 2_000
        )
    shares = [worker_total(folder, pid, "http_requests_total", route="/process") for pid in pids]
    assert all(share > 0 for share in shares), shares  # both workers served some
    assert sum(shares) == 2_000


def test_restarted_gateway_does_not_count_the_former_run(
    services: Services, http: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    gateway = services.start("service_a", WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert send(f"{gateway.url}/process", LOGGED_ONLY, 300) == [200] * 300
    gateway.stop()
    assert list(folder.glob("counter_*.db")), "the first run left its files"

    gateway = services.start("service_a", WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert send(f"{gateway.url}/process", LOGGED_ONLY, 50) == [200] * 50

    scraped = http.get(f"{gateway.url}/metrics").text
    assert scraped_total(scraped, "http_requests_total", route="/process", status="200") == 50


def test_killed_predictor_worker_keeps_its_counts_and_drops_its_live_gauges(
    services: Services, http: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    predictor = services.start("service_b", WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(folder))
    pids = wait_for_workers(predictor, 2, set())
    body = {"input": "my cat purrs"}
    assert send(f"{predictor.url}/predict", body, 400) == [200] * 400
    killed = min(pids)
    assert (folder / f"gauge_livesum_{killed}.db").exists()

    os.kill(killed, signal.SIGKILL)
    wait_for_workers(predictor, 2, {killed})
    predictor.wait_until_ok("/ready", WORKER_START_TIMEOUT_S)

    assert not (folder / f"gauge_livesum_{killed}.db").exists()
    assert not (folder / f"gauge_livemax_{killed}.db").exists()
    assert (folder / f"counter_{killed}.db").exists()
    assert send(f"{predictor.url}/predict", body, 100) == [200] * 100
    scraped = http.get(f"{predictor.url}/metrics").text
    assert scraped_total(scraped, "http_requests_total", route="/predict", status="200") == 500
    assert scraped_total(scraped, "predictor_queue_depth") == 0
    served = scraped_total(scraped, "predictor_model_info", model_version="v1")
    assert served == 1


def test_trace_id_goes_from_the_client_through_both_services_logs(
    services: Services, http: httpx.Client
) -> None:
    predictor = services.start("service_b", LOG_FORMAT="json")
    gateway = services.start("service_a", LOG_FORMAT="json")

    response = http.post(
        f"{gateway.url}/process", json=FORWARD, headers={"traceparent": TRACEPARENT}
    )

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]

    def lines_of_request(process: ServiceProcess) -> list[dict[str, object]]:
        entries = [
            json.loads(line) for line in process.log_text().splitlines() if line.startswith("{")
        ]
        return [entry for entry in entries if entry.get("request_id") == request_id]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not lines_of_request(predictor):
        time.sleep(0.1)
    gateway_lines, predictor_lines = lines_of_request(gateway), lines_of_request(predictor)
    assert gateway_lines and predictor_lines
    assert {entry["trace_id"] for entry in gateway_lines + predictor_lines} == {TRACE_ID}


def test_gateway_without_traceparent_starts_a_trace_the_predictor_joins(
    services: Services, http: httpx.Client
) -> None:
    predictor = services.start("service_b", LOG_FORMAT="json")
    gateway = services.start("service_a", LOG_FORMAT="json")

    response = http.post(f"{gateway.url}/process", json=FORWARD)

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    time.sleep(0.5)
    trace_ids = {
        entry["trace_id"]
        for process in (gateway, predictor)
        for entry in map(
            json.loads, filter(lambda line: line.startswith("{"), process.log_text().splitlines())
        )
        if entry.get("request_id") == request_id
    }
    assert len(trace_ids) == 1
    [trace_id] = trace_ids
    assert isinstance(trace_id, str) and len(trace_id) == 32 and trace_id != "0" * 32
