"""GET /metrics in Prometheus' text format, and GET /readyz."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.app import Core
from bot.cases import CaseDesk, Cases, StaffDestination
from bot.config import PrivacySettings, Settings
from bot.engine import Engine
from bot.outbound import OutboundMessage, Outcome, SendCounts, SendResult, Sent
from bot.outbox import Dispatcher
from bot.surveys import Survey
from handlers.metrics import Metrics
from handlers.runner import sweep
from handlers.web import create_app
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock, downgrade
from tests.handlers.scrape import get, labelled, samples_of, scrape


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination("CSTAFF")})


async def sent(message: OutboundMessage) -> SendResult:
    return Sent()


@pytest.mark.every_database
async def test_metrics_count_a_survey_its_case_and_the_sends_of_its_alerts(
    engine: Engine, database: Database, clock: Clock
) -> None:
    sends = SendCounts()
    metrics = Metrics(database, sends=sends, events=engine.tallies, clock=clock)
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
    by_kind = {(("channel", "test"), ("kind", "StartSurvey")): 1, (("channel", "test"), ("kind", "TextAnswer")): 2}
    assert labelled(before, "feedbackbot_updates_received_total") == by_kind
    assert labelled(before, "feedbackbot_handling_seconds_count") == by_kind
    assert before[("feedbackbot_complaints_opened_total", (("channel", "test"),))] == 1

    await Dispatcher(database, {"slack": sent}, clock=clock, counts=sends).run_once()
    after = await scrape(metrics)
    assert after[("feedbackbot_sends_total", (("channel", "slack"), ("outcome", "sent")))] == 2
    assert after[("feedbackbot_outbox_pending", ())] == 0
    assert after[("feedbackbot_outbox_oldest_pending_age_seconds", ())] == 0


@pytest.mark.every_database
async def test_a_redelivered_event_counts_as_received_and_duplicate_not_handled_nor_as_a_database_error(
    engine: Engine, database: Database
) -> None:
    metrics = Metrics(database, events=engine.tallies)
    customer = Customer(engine)
    await customer.start("csat", event_id="update-1")
    await customer.start("csat", event_id="update-1")  # the platform delivers it again

    samples = await scrape(metrics)
    start = (("channel", "test"), ("kind", "StartSurvey"))
    assert samples[("feedbackbot_updates_received_total", start)] == 2
    assert samples[("feedbackbot_updates_duplicate_total", start)] == 1
    assert samples[("feedbackbot_updates_handled_total", start)] == 1
    assert samples[("feedbackbot_handling_seconds_count", start)] == 2
    assert labelled(samples, "feedbackbot_database_errors_total") == {}


async def test_http_requests_are_timed_by_route_template_method_and_status(database: Database) -> None:
    async def webhook(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    metrics = Metrics(database)
    api = create_app(database, routes=[Route("/hooks/{token}", webhook, methods=["POST"])], metrics=metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        statuses = [
            (await client.post("/hooks/s3cret-1")).status_code,
            (await client.post("/hooks/s3cret-2")).status_code,
            (await client.get("/hooks/s3cret-1")).status_code,
            (await client.get("/nowhere/42")).status_code,
            (await client.request("BREW", "/hooks/s3cret-1")).status_code,  # any method a caller makes up
        ]
        exposition = (await client.get("/metrics")).text
    assert statuses == [200, 200, 405, 404, 405]
    assert labelled(samples_of(exposition), "feedbackbot_http_request_seconds_count") == {
        (("method", "POST"), ("route", "/hooks/{token}"), ("status", "200")): 2,
        (("method", "GET"), ("route", "/hooks/{token}"), ("status", "405")): 1,
        (("method", "GET"), ("route", "unrouted"), ("status", "404")): 1,
        (("method", "other"), ("route", "/hooks/{token}"), ("status", "405")): 1,
    }
    assert "s3cret" not in exposition and "nowhere" not in exposition


async def test_database_failures_are_counted_by_operation_and_error() -> None:
    unreachable = Database("postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    try:
        with pytest.raises((SQLAlchemyError, OSError)) as write_failure:
            await Dispatcher(unreachable, {"slack": sent}).run_once()
        with pytest.raises((SQLAlchemyError, OSError)) as read_failure:
            await unreachable.ping()
        samples = await scrape(Metrics(unreachable))  # its own read fails too
    finally:
        await unreachable.close()
    assert labelled(samples, "feedbackbot_database_errors_total") == {
        (("error", type(write_failure.value).__name__), ("operation", "write")): 1,
        (("error", type(read_failure.value).__name__), ("operation", "read")): 2,
    }


async def test_metrics_count_the_sweeps_sla_breaches_and_what_retention_removed(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock, desk: CaseDesk
) -> None:
    clock.now = datetime.now(UTC)  # rows are stamped with the wall clock when added
    settings = Settings(privacy=PrivacySettings(retention_days=30))
    core = Core(
        settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk, clock)
    )
    metrics = Metrics(database, swept=core.swept, clock=clock)
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("1")
    await customer.say("The courier threw my parcel over the fence")
    before = await scrape(metrics)
    clock.advance(days=31)  # the case is long overdue, the customer inactive past the retention window

    await sweep(core)
    after = await scrape(metrics)
    assert (before[("feedbackbot_sla_breaches_total", ())], after[("feedbackbot_sla_breaches_total", ())]) == (0, 1)
    assert labelled(after, "feedbackbot_retention_pruned_rows_total") == {
        (("table", "events"),): 3,  # the survey's three events, past their deduplication window
        (("table", "inbox"),): 0,
        (("table", "outbox"),): 0,  # the case's alerts are still pending
    }
    assert after[("feedbackbot_retention_people_forgotten_total", ())] == 1
    assert after[("feedbackbot_retention_texts_cleared_total", ())] == 0


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
    await downgrade(database, "0001")
    response = await get(create_app(database), "/readyz")
    body = response.json()
    assert (response.status_code, body["not_ready"], body["schema_revision"]) == (503, ["schema"], "0001")
