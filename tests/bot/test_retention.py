"""Retention, as the minute's sweep runs it under the test's clock: bookkeeping rows pruned after their
deduplication window, people inactive past `[privacy] retention_days` anonymised as /forget does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import col, update

import bot.retention
from bot.cases import CaseDesk, Cases
from bot.config import PrivacySettings
from bot.engine import Engine
from bot.events import SetLanguage
from bot.retention import NOTHING_REMOVED, Retention, RetentionCounts
from storage import inbox
from storage.db import Database
from storage.models import InboundEvent, InboxUpdate, OutboxMessage, OutboxStatus
from storage.retention import Pruned
from storage.views import case_trail
from tests.bot.customer import Customer
from tests.conftest import Clock, database_dump


@pytest.fixture
def real_clock(clock: Clock) -> Clock:
    """The test's clock set to the wall clock, which the rows' own timestamps (added, received) follow."""
    clock.now = datetime.now(UTC)
    return clock


def retention(engine: Engine, clock: Clock, **privacy: object) -> Retention:
    settings = PrivacySettings.model_validate(privacy)
    return Retention(engine.database, engine.people, engine.keys, settings, clock)


async def stamp_events(database: Database, respondent_keys: list[str], *, at: datetime) -> None:
    """Events are stamped with the wall clock when recorded; this moves them to the test clock's time."""
    async with database.transaction() as session:
        await session.exec(
            update(InboundEvent).where(col(InboundEvent.respondent_key).in_(respondent_keys)).values(received_at=at)
        )


async def add_bookkeeping(database: Database, *, age: timedelta, now: datetime, tag: str, update_id: int) -> None:
    """A handled and an unhandled inbox update, an inbound event, and a sent, a failed and a pending outbox
    message, all `age` old."""
    at = now - age
    async with database.transaction() as session:
        session.add(InboxUpdate(channel="telegram", update_id=update_id, received_at=at, handled_at=at))
        session.add(InboxUpdate(channel="telegram", update_id=update_id + 1, payload="{}", received_at=at))
        session.add(InboundEvent(channel="test", event_id=f"{tag}-event", reply="{}", received_at=at))
        for status in OutboxStatus:
            session.add(
                OutboxMessage(
                    channel="test", kind="note", payload=f'"{tag}-{status}"', status=status, created_at=at, sent_at=at
                )
            )


async def test_bookkeeping_rows_past_their_window_are_pruned_and_younger_ones_stay(
    engine: Engine, database: Database, real_clock: Clock
) -> None:
    now = real_clock()
    await add_bookkeeping(database, age=timedelta(days=6), now=now, tag="recent", update_id=10)
    await add_bookkeeping(database, age=timedelta(days=8), now=now, tag="week-old", update_id=20)
    await add_bookkeeping(database, age=timedelta(days=31), now=now, tag="month-old", update_id=30)

    counts = await retention(engine, real_clock).sweep()
    real_clock.advance(hours=1)  # its next run
    again = await retention(engine, real_clock).sweep()

    dump = await database_dump(database)
    assert counts == RetentionCounts(Pruned(inbox=2, events=2, outbox=3), forgotten=0, texts_cleared=0)
    assert again == RetentionCounts(Pruned(inbox=0, events=0, outbox=0), forgotten=0, texts_cleared=0)
    assert "recent-event" in dump and "week-old-event" not in dump and "month-old-event" not in dump
    assert "recent-sent" in dump and "week-old-sent" not in dump
    assert "week-old-failed" in dump and "month-old-failed" not in dump  # failures stay a month for operators
    assert "month-old-pending" in dump  # never sent: not bookkeeping
    async with database.snapshot() as session:
        pending = await inbox.unhandled(session, channel="telegram")
    assert [update.update_id for update in pending] == [11, 21, 31]  # not handled yet: kept whatever its age


async def test_retention_runs_once_an_hour_however_many_processes_sweep_and_across_restarts(
    engine: Engine, database: Database, database_url: str, real_clock: Clock
) -> None:
    now = real_clock()
    await add_bookkeeping(database, age=timedelta(days=8), now=now, tag="first", update_id=10)
    other_process = Database(database_url)
    try:
        other = Retention(other_process, engine.people, engine.keys, PrivacySettings(), real_clock)
        both = await asyncio.gather(retention(engine, real_clock).sweep(), other.sweep())
    finally:
        await other_process.close()
    pruned_once = RetentionCounts(Pruned(inbox=1, events=1, outbox=1), forgotten=0, texts_cleared=0)
    assert sorted(both, key=lambda counts: sum(counts.pruned)) == [NOTHING_REMOVED, pruned_once]

    await add_bookkeeping(database, age=timedelta(days=8), now=now, tag="second", update_id=20)
    real_clock.advance(minutes=59)
    assert await retention(engine, real_clock).sweep() == NOTHING_REMOVED  # restarted within the hour: not due
    real_clock.advance(minutes=1)
    assert await retention(engine, real_clock).sweep() == pruned_once


async def test_a_run_that_fills_its_batch_goes_on_at_the_next_sweep(
    engine: Engine, database: Database, real_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.retention, "BATCH", 2)
    for update_id in (10, 20, 30):
        await add_bookkeeping(
            database, age=timedelta(days=8), now=real_clock(), tag=f"old-{update_id}", update_id=update_id
        )

    pruned = [(await retention(engine, real_clock).sweep()).pruned for _ in range(3)]

    assert pruned == [Pruned(2, 2, 2), Pruned(1, 1, 1), Pruned(0, 0, 0)]  # the last one: not due for an hour
    assert "old-30-event" not in await database_dump(database)


async def test_a_redelivery_inside_the_window_is_still_recognised(engine: Engine, real_clock: Clock) -> None:
    customer = Customer(engine)
    await customer.start("csat", event_id="first-start")
    real_clock.advance(days=6)
    await retention(engine, real_clock).sweep()

    redelivered = await customer.start("csat", event_id="first-start")

    assert redelivered.duplicate


async def test_retention_anonymises_an_inactive_person_and_keeps_a_recent_one(
    engine: Engine, database: Database, real_clock: Clock
) -> None:
    old, recent = Customer(engine, user_id="old-714862471"), Customer(engine, user_id="recent-5550100")
    chatty = Customer(engine, user_id="chatty-2024")
    await chatty.start("csat", "ORDER-CHAT")
    await old.start("csat", "ORDER-OLD")
    await old.press("1")
    await old.say("Ask for Maria, she was rude")
    real_clock.advance(days=31)
    await recent.start("csat", "ORDER-NEW")
    await recent.press("5")
    await chatty.send(SetLanguage, "de")  # no survey for a month, but a command just now
    await stamp_events(database, engine.keys.respondent_keys(chatty.who), at=real_clock())
    real_clock.advance(seconds=1)

    counts = await retention(engine, real_clock, retention_days=30).sweep()

    dump = await database_dump(database)
    assert counts.forgotten == 1
    for trace in ("old-714862471", "ORDER-OLD", "Maria", *engine.keys.respondent_keys(old.who)):
        assert trace not in dump
    assert "recent-5550100" in dump and "ORDER-NEW" in dump
    assert "chatty-2024" in dump and "ORDER-CHAT" in dump


async def test_retention_optionally_clears_old_free_texts(
    engine: Engine, database: Database, real_clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.press("1")
    await customer.say("The Elm Street shop was dirty")
    real_clock.advance(days=3)
    await customer.start("csat")  # still active: the person stays, the old words go

    counts = await retention(engine, real_clock, retention_days=2, retention_free_text=True).sweep()

    assert counts.forgotten == 0 and counts.texts_cleared >= 1
    assert "Elm Street" not in await database_dump(database)


async def test_retention_optionally_erases_old_replies_on_a_case_trail(
    engine: Engine, database: Database, real_clock: Clock
) -> None:
    cases = Cases(database, CaseDesk(), real_clock)
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("2")  # a low score opens case #1
    await customer.say("The parcel arrived late")  # the survey's last question
    await cases.contact(1, "U-STAFF", "Which address should we send a new parcel to?")
    await customer.say("Elm Street 5, please")
    real_clock.advance(days=3)
    await customer.start("csat")  # still active: the person stays, their old words go

    await retention(engine, real_clock, retention_days=2, retention_free_text=True).sweep()

    async with database.snapshot() as session:
        details = [line.detail or "" for line in await case_trail(session, case_id=1)]
    assert "the customer replied (erased after the retention period)" in details
    assert not any("Elm Street" in detail for detail in details)


async def test_without_retention_days_nobody_is_anonymised(
    engine: Engine, database: Database, real_clock: Clock
) -> None:
    customer = Customer(engine, user_id="kept-4242")
    await customer.start("csat")
    real_clock.advance(days=400)

    counts = await retention(engine, real_clock).sweep()

    assert counts.forgotten == 0 and "kept-4242" in await database_dump(database)


@pytest.mark.parametrize("days", [0, -3])
def test_retention_days_must_be_at_least_one(days: int) -> None:
    with pytest.raises(ValidationError, match="retention_days"):
        PrivacySettings.model_validate({"retention_days": days})


def test_an_empty_retention_days_keeps_personal_data() -> None:
    assert PrivacySettings.model_validate({"retention_days": ""}).retention_days is None
