"""GET /api/v1/metrics: the report's JSON document, with the command's filters, behind the API key."""

from __future__ import annotations

import json

import httpx

from bot.app import Core
from bot.cli import min_group_size
from bot.engine import Engine
from bot.report_output import report_json
from bot.reports import Breakdown, build_report
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.handlers.api.conftest import CRM


async def answered(engine: Engine, clock: Clock) -> None:
    """Two CSAT surveys on Telegram today, and one on Slack tomorrow with a complaint."""
    for user, score, channel in (("ann", "5", "telegram"), ("bob", "4", "telegram")):
        customer = Customer(engine, user, channel=channel)
        await customer.start("csat")
        await customer.say(score)
        await customer.say("skip")
    clock.advance(days=1)
    cat = Customer(engine, "cat", channel="slack")
    await cat.start("csat")
    await cat.say("1")
    await cat.say("The courier was rude and the parcel late")


async def test_the_metrics_are_the_json_report_with_the_same_filters(
    client: httpx.AsyncClient, core: Core, engine: Engine, clock: Clock
) -> None:
    await answered(engine, clock)
    since, until = clock.now.replace(hour=0), clock.now.replace(hour=23)
    filters = {"survey": "csat", "by": "channel", "since": since.isoformat(), "until": until.isoformat()}

    response = await client.get("/api/v1/metrics", params=filters, headers=CRM)

    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    expected = await build_report(
        core.database,
        [core.surveys["csat"]],
        since=since,
        until=until,
        by=Breakdown.CHANNEL,
        min_group_size=min_group_size(core.settings),
    )
    body = response.json()
    assert body == json.loads(report_json(expected))
    [survey] = body["surveys"]
    assert (survey["total"]["respondents"], [g["group"] for g in survey["groups"]]) == (1, ["slack"])
    assert survey["previous"]["since"] == (since - (until - since)).isoformat()  # the same length before


async def test_every_survey_without_filters(client: httpx.AsyncClient, engine: Engine, clock: Clock) -> None:
    await answered(engine, clock)
    body = (await client.get("/api/v1/metrics", headers=CRM)).json()
    assert [survey["survey"] for survey in body["surveys"]] == ["ces", "csat", "internal-service", "nps"]
    assert (body["by"], body["surveys"][1]["total"]["csat"]["answers"]) == (None, 3)


async def test_the_metrics_need_a_key_and_valid_filters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/metrics")).status_code == 401

    async def problem(**params: str) -> tuple[int, list[str], str]:
        response = await client.get("/api/v1/metrics", params=params, headers=CRM)
        [detail] = response.json()["detail"]
        return response.status_code, detail["loc"], detail["msg"]

    assert await problem(by="region name") == (
        422,
        ["query", "by"],
        "'region name' is neither one of channel, day, week, month, service nor an invitation attribute name",
    )
    assert (await problem(survey="nope"))[:2] == (422, ["query", "survey"])
    assert (await problem(since="2026-11-26T00:00:00"))[:2] == (422, ["query", "since"])
