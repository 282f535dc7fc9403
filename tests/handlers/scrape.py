"""Reading GET /metrics as Prometheus would: each sample by name and labels, parsed by prometheus-client."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from handlers.metrics import Metrics
from handlers.web import create_app

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def get(api: Starlette, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        return await client.get(path)


def samples_of(exposition: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def scrape(metrics: Metrics, api: Starlette | None = None) -> Samples:
    """Each sample of /metrics (of `api`, or of an app of its own) by name and labels."""
    response = await get(api or create_app(metrics.database, metrics=metrics), "/metrics")
    assert response.status_code == 200
    return samples_of(response.text)


def labelled(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one name, by their labels."""
    return {labels: value for (sample, labels), value in samples.items() if sample == name}
