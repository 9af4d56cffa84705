"""What a service answers on GET /metrics, parsed, for tests that read its metrics."""

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    """The samples of one scrape."""

    samples: list[Sample]

    @classmethod
    def parse(cls, text: str) -> "Scrape":
        return cls([s for family in text_string_to_metric_families(text) for s in family.samples])

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """The samples `name` (e.g. `http_requests_total`) that have `labels` (and maybe more)."""
        return [
            sample
            for sample in self.samples
            if sample.name == name
            and all(sample.labels.get(key) == value for key, value in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples `name` that have `labels`; 0 when there are none."""
        return float(sum(sample.value for sample in self.matching(name, **labels)))

    def value(self, name: str, **labels: str) -> float:
        """The value of the one series `name` with `labels`; fails unless there is one."""
        found = self.matching(name, **labels)
        assert len(found) == 1, f"{len(found)} series {name}{labels}: {found}"
        return float(found[0].value)

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The labels of every series `name`."""
        return [dict(sample.labels) for sample in self.matching(name)]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    """GET /metrics, checked to be the Prometheus text format, parsed."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)
