"""Reading Prometheus metrics, for the integration tests and the benchmark: a scraped
sample's value, and one worker's own count in a multiprocess folder."""

from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def _total(samples: list[Sample], name: str, labels: dict[str, str]) -> float:
    return float(
        sum(
            sample.value
            for sample in samples
            if sample.name == name
            and all(sample.labels.get(key) == value for key, value in labels.items())
        )
    )


def scraped_total(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` that have `labels` (0 when there are none yet)."""
    samples = [s for family in text_string_to_metric_families(metrics_text) for s in family.samples]
    return _total(samples, name, labels)


def worker_total(folder: Path, pid: int, name: str, **labels: str) -> float:
    """The same, counted by the worker `pid` alone: from its counter file in `folder`."""
    path = str(folder / f"counter_{pid}.db")
    families = MultiProcessCollector.merge([path], accumulate=True)  # type: ignore[no-untyped-call]
    return _total([s for family in families for s in family.samples], name, labels)
