"""End to end: Prometheus (the `observability` compose profile) watching the running stack,
probed from outside as a person would: its targets, the requests it counted, its alerts;
and the default profile, which leaves it out."""

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from devkit.metrics import scraped_total
from tests.support.compose import ComposeStack
from tests.support.prometheus import (
    ALERT_NAMES,
    alerting_rules,
    instant_value,
    poll,
    target_health,
)

pytestmark = pytest.mark.e2e

SCRAPE_TIMEOUT = 60.0
"""Seconds; many scrape intervals (5 s), for a target to come up or a count to land."""
FORWARDED = 25
PROCESS_REQUESTS = 'sum(http_requests_total{job="service_a",route="/process"})'


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def test_prometheus_scrapes_both_services(
    compose_stack: ComposeStack, client: httpx.Client
) -> None:
    both_up = {"service_a": ["up"], "service_b": ["up"]}
    health = poll(
        lambda: target_health(client, compose_stack.prometheus_url),
        lambda seen: seen == both_up,
        SCRAPE_TIMEOUT,
    )
    assert health == both_up


def test_prometheus_counts_every_forwarded_request(
    compose_stack: ComposeStack, client: httpx.Client
) -> None:
    # The stack is shared with the other e2e tests: count from what the gateway says now.
    metrics = client.get(f"{compose_stack.service_a_url}/metrics").text
    before = scraped_total(metrics, "http_requests_total", route="/process")
    for number in range(FORWARDED):
        response = client.post(
            f"{compose_stack.service_a_url}/process",
            json={"data": f"prometheus e2e input {number}", "forward_to_model": True},
        )
        assert response.status_code == 200, response.text

    counted = poll(
        lambda: instant_value(client, compose_stack.prometheus_url, PROCESS_REQUESTS),
        lambda seen: seen == before + FORWARDED,
        SCRAPE_TIMEOUT,
    )
    assert counted == before + FORWARDED


def test_prometheus_evaluates_the_four_alerts(
    compose_stack: ComposeStack, client: httpx.Client
) -> None:
    all_ok = dict.fromkeys(ALERT_NAMES, "ok")
    rules = poll(
        lambda: alerting_rules(client, compose_stack.prometheus_url),
        lambda seen: seen == all_ok,
        SCRAPE_TIMEOUT,
    )
    assert rules == all_ok


def test_without_the_profile_prometheus_is_not_created(compose_stack: ComposeStack) -> None:
    # `docker-compose config --services` cannot tell: docker-compose 1.29 lists every
    # service there, profile or not. What `up` creates can: without starting anything.
    default = dataclasses.replace(
        compose_stack, project=f"{compose_stack.project}default", profiles=(), prometheus_port=None
    )
    try:
        default.compose("up", "--no-start", "--no-build")
        created = default.created_services()
    finally:
        default.compose("down", "--volumes", "--remove-orphans", check=False, timeout=120)
    assert created == {"service_a", "service_b"}
