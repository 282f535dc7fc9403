"""Read models: what the edges show is read as frozen values, and an open case means one thing everywhere."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot import analytics
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.events import Forget
from storage import views
from storage.db import Database
from storage.models import CaseStatus, ComplaintReason
from tests.bot.customer import Customer
from tests.conftest import Clock


async def test_a_case_reads_as_a_frozen_view_with_its_reasons(engine: Engine, database: Database) -> None:
    await Customer(engine).complain("I was charged twice")
    async with database.snapshot() as session:
        case = await views.get_case(session, case_id=1)
        missing = await views.get_case(session, case_id=2)
    assert case is not None and missing is None
    assert (case.id, case.status, case.reasons, case.text) == (
        1,
        CaseStatus.NEW,
        (ComplaintReason.EXPLICIT,),
        "I was charged twice",
    )
    assert case.is_open
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.status = CaseStatus.CLOSED  # type: ignore[misc]


async def test_open_cases_are_the_ones_waiting_for_staff(
    engine: Engine, database: Database, clock: Clock, desk: CaseDesk
) -> None:
    for name in ("new", "acknowledged", "resolved"):
        await Customer(engine, user_id=name).complain(f"Complaint that stays {name}")
    cases = Cases(database, desk, clock)
    await cases.acknowledge(2, "staff")
    await cases.resolve(3, "staff", corrective_action="Refunded", root_cause="process", message=None)

    total, newest = await analytics.open_cases(database)
    assert (total, [(case.id, case.status) for case in newest]) == (2, [(2, "acknowledged"), (1, "new")])
    async with database.snapshot() as session:
        overdue = await views.list_cases(session, status=None, overdue_at=clock.now + timedelta(days=30), limit=10)
        every = await views.list_cases(session, status=None, overdue_at=None, limit=10)
    assert [case.id for case in overdue] == [case.id for case in every if case.is_open] == [2, 1]


async def test_the_trail_of_a_case_reads_in_order(
    engine: Engine, database: Database, clock: Clock, desk: CaseDesk
) -> None:
    await Customer(engine).complain("Nobody answers the phone")
    clock.advance(minutes=5)
    await Cases(database, desk, clock).acknowledge(1, "U123")
    async with database.snapshot() as session:
        trail = await views.case_trail(session, case_id=1)
    assert [(line.actor, line.action, line.at) for line in trail] == [
        ("system", "opened", clock.now - timedelta(minutes=5)),
        ("U123", "acknowledged", clock.now),
    ]


async def test_a_case_loads_with_what_the_channels_need_of_its_customer(
    engine: Engine, database: Database, desk: CaseDesk
) -> None:
    await Customer(engine, user_id="alice", language="es").complain("El paquete llegó roto")
    cases = Cases(database, desk)
    case, customer = await cases.load(1)
    assert isinstance(case, views.CaseView) and case.text == "El paquete llegó roto"
    assert customer == views.CustomerView(channel="test", platform_id="alice", language="es")
    acknowledged = await cases.acknowledge(1, "staff")
    assert isinstance(acknowledged, views.CaseView) and acknowledged.status == CaseStatus.ACKNOWLEDGED
    await Customer(engine, user_id="alice").send(Forget)
    assert await cases.load(1) == (dataclasses.replace(acknowledged, person_id=None, text=None), None)
