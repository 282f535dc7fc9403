"""The Grafana dashboard in deploy/grafana: a dashboard Grafana can import, showing exactly the series /metrics has."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.outbound import Outcome
from handlers.web import create_app
from storage.db import Database
from tests.conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "feedbackbot-dashboard.json"
METRIC_NAME = re.compile(r"\bfeedbackbot_[a-z_]+\b")
OUTCOME_MATCHER = re.compile(r'outcome=~?"([^"]*)"')
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def graphs(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def expressions(board: dict[str, Any]) -> Iterator[str]:
    for panel in graphs(board):
        for target in panel["targets"]:
            yield target["expr"]


async def scraped_series(database: Database) -> dict[str, str]:
    """Each series name a real GET /metrics exposes (a counter's `_total`, a histogram's `_bucket`...), by family."""
    api = create_app(database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        exposition = (await client.get("/metrics")).text
    return {
        f"{family.name}{suffix}": family.name
        for family in text_string_to_metric_families(exposition)
        for suffix in SERIES_SUFFIXES[family.type]
    }


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_data_source_chosen_on_import() -> None:
    board = dashboard()
    assert board["title"] and board["uid"] and isinstance(board["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in graphs(board):
        assert panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24  # Grafana's grid is 24 wide
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])


async def test_every_series_the_dashboard_shows_is_in_a_real_scrape_and_every_family_has_a_panel(
    database: Database,
) -> None:
    series = await scraped_series(database)
    used = {name for expr in expressions(dashboard()) for name in METRIC_NAME.findall(expr)}
    assert sorted(used - set(series)) == []
    assert sorted(set(series.values()) - {series[name] for name in used}) == []


def test_the_outcomes_the_dashboard_picks_are_outcomes_the_bot_counts() -> None:
    picked = {
        outcome
        for expr in expressions(dashboard())
        for match in OUTCOME_MATCHER.findall(expr)
        for outcome in match.split("|")
    }
    # The 429s and the 403s of the chat channels; the webhook deliveries failed for good.
    assert picked == {Outcome.RATE_LIMITED, Outcome.UNREACHABLE, Outcome.REFUSED, Outcome.GIVEN_UP}
