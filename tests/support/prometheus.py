"""The Prometheus server of the observability profile, as the tests see it: the alerts it
is configured with, and reads of its HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/)."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

ALERT_NAMES = ("PredictorDown", "GatewayHighErrorRatio", "ForwardedLatencyHigh", "NoModelLoaded")
"""The alerts of observability/prometheus/alerts.yml."""

T = TypeVar("T")


def api_data(client: httpx.Client, prometheus_url: str, path: str, **params: str) -> Any:
    """The `data` of a successful answer of /api/v1/<path>."""
    response = client.get(f"{prometheus_url}/api/v1/{path}", params=params)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def target_health(client: httpx.Client, prometheus_url: str) -> dict[str, list[str]]:
    """The health ("up", "down", "unknown") of each scrape job's active targets."""
    health: dict[str, list[str]] = {}
    for target in api_data(client, prometheus_url, "targets", state="active")["activeTargets"]:
        health.setdefault(target["labels"]["job"], []).append(target["health"])
    return health


def instant_value(client: httpx.Client, prometheus_url: str, query: str) -> float | None:
    """The value of a query that yields at most one series (a `sum(...)`); None for none."""
    result = api_data(client, prometheus_url, "query", query=query)["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def alerting_rules(client: httpx.Client, prometheus_url: str) -> dict[str, str]:
    """Each loaded alerting rule's name and health ("ok" once evaluated without error)."""
    groups = api_data(client, prometheus_url, "rules", type="alert")["groups"]
    return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """Read every second until `done` holds or `timeout` seconds passed; the last read."""
    deadline = time.monotonic() + timeout
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(1)
    return value
