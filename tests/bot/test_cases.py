"""Cases: triage when a complaint opens, its audit trail and staff alerts in the same transaction."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from bot.cases import CaseDesk, alert_text, suggest_category
from bot.config import CaseSettings
from bot.engine import Engine
from storage.db import Database
from storage.models import CaseEvent, Complaint, OutboxMessage
from tests.bot.customer import Customer
from tests.conftest import Clock

RULES = CaseSettings().categories


def test_the_category_comes_from_keyword_rules() -> None:
    assert suggest_category("The courier left it in the rain", RULES) == "delivery"
    assert suggest_category("I was charged twice", RULES) == "billing"
    assert suggest_category("Lovely weather", RULES) is None
    assert suggest_category(None, RULES) is None


async def test_a_complaint_opens_a_triaged_case_with_its_trail_and_alerts(
    engine: Engine, database: Database, clock: Clock
) -> None:
    engine.desk = CaseDesk(destinations={"slack": "CSTAFF", "telegram": "-100123"})
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER-9")
    await customer.say("1")
    await customer.say("The courier threw my parcel over the fence")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
        [event] = await session.exec(select(CaseEvent))
        alerts = list(await session.exec(select(OutboxMessage)))
    assert (case.status, case.priority, case.category) == ("new", "high", "delivery")  # the lowest score
    assert case.due_ack_at == clock.now + timedelta(minutes=60)
    assert case.due_resolve_at == clock.now + timedelta(hours=24)
    assert (event.actor, event.action, event.at) == ("system", "opened", clock.now)
    assert sorted((a.channel, json.loads(a.payload)["target"]) for a in alerts) == [
        ("slack", "CSTAFF"),
        ("telegram", "-100123"),
    ]
    assert alert_text(case) == (
        "New complaint #1 (low_score; priority high, delivery) from a test customer\n"
        "Survey: csat, reference ORDER-9\n“The courier threw my parcel over the fence”"
    )


async def test_mild_cases_get_more_time(engine: Engine, database: Database, clock: Clock) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("6")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
    assert (case.priority, case.due_ack_at) == ("normal", clock.now + timedelta(minutes=240))
