"""Every series an alert reads is one the services expose, from the job that exposes it:
a renamed metric (in the code or in alerts.yml) fails here, not silently in production,
where an alert over a series that no longer exists simply never fires."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from gateway.metrics import GatewayMetrics
from predictor.metrics import PredictorMetrics
from service_common.metrics import HttpMetrics
from tests.support.promql import Selector, selectors

ALERTS_FILE = Path(__file__).resolve().parents[2] / "observability" / "prometheus" / "alerts.yml"
ALERTS = ("PredictorDown", "GatewayHighErrorRatio", "ForwardedLatencyHigh", "NoModelLoaded")

PER_TARGET_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)
"""What Prometheus itself records for every target it scrapes, in every job."""

SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
"""The series names of a metric family by type, as the text exposition writes them."""


def exposed_series(*metrics: type[Any]) -> frozenset[str]:
    """Series names the given metrics classes expose, built on a fresh registry. From the
    families, not the samples: a labelled metric has no sample before its first use."""
    registry = CollectorRegistry()
    for metrics_class in metrics:
        metrics_class(registry)
    return frozenset(
        family.name + suffix
        for family in registry.collect()
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))
    )


# The scrape jobs of prometheus.yml and what each service registers: the HTTP metrics
# every route gets, plus its own.
JOB_SERIES = {
    "service_a": exposed_series(HttpMetrics, GatewayMetrics) | PER_TARGET_SERIES,
    "service_b": exposed_series(HttpMetrics, PredictorMetrics) | PER_TARGET_SERIES,
}


def alert_expression(name: str) -> str:
    groups = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    expressions = [
        rule["expr"] for group in groups for rule in group["rules"] if rule.get("alert") == name
    ]
    assert len(expressions) == 1, f"{name}: {len(expressions)} rules in {ALERTS_FILE.name}"
    expression: str = expressions[0]
    return expression


def unknown(selector: Selector) -> bool:
    jobs = [selector.job] if selector.job is not None else list(JOB_SERIES)
    return not any(selector.metric in JOB_SERIES.get(job, frozenset()) for job in jobs)


@pytest.mark.parametrize("alert", ALERTS)
def test_every_series_an_alert_reads_is_exposed(alert: str) -> None:
    read = selectors(alert_expression(alert))
    assert read, f"{alert} reads no series (is the expression empty?)"
    assert [selector for selector in read if unknown(selector)] == []


def test_selectors_reads_names_and_jobs_but_not_functions_labels_or_numbers() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="service_a"}[5m]))) > 1e3'
        ' and on() (max(up{job=~"service_."}) == 1) unless absent(b offset 5m)'
    )
    assert selectors(expression) == [
        Selector("a_bucket", "service_a"),
        Selector("up", None),
        Selector("b", None),
    ]
