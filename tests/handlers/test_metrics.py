"""GET /metrics in Prometheus' text format, and GET /readyz."""

from __future__ import annotations

import httpx
import pytest
from alembic import command
from starlette.applications import Starlette
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Connection

from bot.cases import CaseDesk, StaffDestination
from bot.engine import Engine
from bot.outbound import OutboundMessage, Outcome, SendCounts, SendResult, Sent
from bot.outbox import Dispatcher
from handlers.metrics import Metrics
from handlers.web import create_app
from storage.db import Database
from storage.migrate import alembic_config
from tests.bot.customer import Customer
from tests.conftest import Clock


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination("CSTAFF")})


async def get(api: Starlette, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        return await client.get(path)


async def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample of /metrics by name and labels."""
    response = await get(create_app(metrics.database, metrics=metrics), "/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def sent(message: OutboundMessage) -> SendResult:
    return Sent()


@pytest.mark.every_database
async def test_metrics_count_a_survey_its_case_and_the_sends_of_its_alerts(
    engine: Engine, database: Database, clock: Clock
) -> None:
    sends = SendCounts()
    metrics = Metrics(database, sends=sends, handled=engine.handled, clock=clock)
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("1")
    await customer.say("The courier threw my parcel over the fence")
    clock.advance(seconds=30)

    before = await scrape(metrics)
    assert before[("feedbackbot_updates_handled_total", (("channel", "test"), ("kind", "StartSurvey")))] == 1
    assert before[("feedbackbot_updates_handled_total", (("channel", "test"), ("kind", "TextAnswer")))] == 2
    assert before[("feedbackbot_cases", (("state", "new"),))] == 1
    assert before[("feedbackbot_answers_stored", ())] == 2
    assert before[("feedbackbot_outbox_pending", ())] == 2  # the case's alert and its update
    assert before[("feedbackbot_outbox_oldest_pending_age_seconds", ())] == 30
    assert before[("feedbackbot_cases_escalated", ())] == 0
    assert before[("feedbackbot_database_up", ())] == 1

    await Dispatcher(database, {"slack": sent}, clock=clock, counts=sends).run_once()
    after = await scrape(metrics)
    assert after[("feedbackbot_sends_total", (("channel", "slack"), ("outcome", "sent")))] == 2
    assert after[("feedbackbot_outbox_pending", ())] == 0
    assert after[("feedbackbot_outbox_oldest_pending_age_seconds", ())] == 0


async def test_two_apps_keep_their_own_metrics(database: Database) -> None:
    counted, other = SendCounts({("slack", Outcome.SENT): 3}), SendCounts()
    first = await scrape(Metrics(database, sends=counted))
    second = await scrape(Metrics(database, sends=other))
    assert first[("feedbackbot_sends_total", (("channel", "slack"), ("outcome", "sent")))] == 3
    assert ("feedbackbot_sends_total", (("channel", "slack"), ("outcome", "sent"))) not in second


async def test_metrics_keep_the_process_counters_while_the_database_is_down() -> None:
    unreachable = Database("postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    try:
        samples = await scrape(Metrics(unreachable, sends=SendCounts({("telegram", Outcome.REFUSED): 1})))
    finally:
        await unreachable.close()
    assert samples[("feedbackbot_sends_total", (("channel", "telegram"), ("outcome", "refused")))] == 1
    assert samples[("feedbackbot_database_up", ())] == 0
    assert ("feedbackbot_outbox_pending", ()) not in samples


@pytest.mark.every_database
async def test_ready_when_the_database_answers_with_a_current_schema_and_the_channels_run(database: Database) -> None:
    response = await get(create_app(database, channels_started=lambda: True), "/readyz")
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "ready")
    assert body["schema_revision"] and body["version"]


async def test_not_ready_before_the_channels_start(database: Database) -> None:
    response = await get(create_app(database, channels_started=lambda: False), "/readyz")
    assert (response.status_code, response.json()["not_ready"]) == (503, ["channels"])


@pytest.mark.every_database
async def test_not_ready_with_a_schema_behind_the_code(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")

    async with database.engine.begin() as connection:
        await connection.run_sync(downgrade)
    response = await get(create_app(database), "/readyz")
    body = response.json()
    assert (response.status_code, body["not_ready"], body["schema_revision"]) == (503, ["schema"], "0001")
