"""The outbox: sent once when the change commits, never when it rolls back; retried; shared by dispatchers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from sqlmodel import select

from bot.outbox import LEASE, MAX_ATTEMPTS, Dispatcher, Undeliverable, enqueue
from storage.db import Database
from storage.models import OutboxMessage
from tests.conftest import Clock


class Recorder:
    """A sender that fails the first `failures` sends, then records what it sends."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("the platform is down")
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        self.sent.append(payload)


async def queue(database: Database, clock: Clock, count: int = 1) -> None:
    async with database.transaction() as session:
        for number in range(count):
            enqueue(session, channel="slack", kind="case_alert", payload={"case": number}, now=clock.now)


async def rows(database: Database) -> list[OutboxMessage]:
    async with database.snapshot() as session:
        return list(await session.exec(select(OutboxMessage)))


async def test_a_message_of_a_rolled_back_change_is_never_sent(database: Database, clock: Clock) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            enqueue(session, channel="slack", kind="case_alert", payload={"case": 1}, now=clock.now)
            raise RuntimeError("the change failed")
    recorder = Recorder()
    assert await Dispatcher(database, {"slack": recorder}, clock=clock).run_once() == 0
    assert recorder.sent == []


async def test_a_platform_down_for_a_while_gets_the_message_exactly_once(database: Database, clock: Clock) -> None:
    await queue(database, clock)
    recorder = Recorder(failures=3)
    dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock)
    for _ in range(3):
        assert await dispatcher.run_once() == 0
        assert await dispatcher.run_once() == 0  # not due again before its backoff
        clock.advance(minutes=1)
    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 0
    assert recorder.sent == [{"case": 0}]
    [row] = await rows(database)
    assert (row.status, row.attempts) == ("sent", 4)


async def test_a_refusal_for_good_is_not_retried(database: Database, clock: Clock) -> None:
    await queue(database, clock)
    recorder = Recorder(failures=1, error=Undeliverable("channel_not_found"))
    dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock)
    await dispatcher.run_once()
    clock.advance(hours=1)
    await dispatcher.run_once()
    [row] = await rows(database)
    assert (row.status, row.last_error, recorder.sent) == ("failed", "channel_not_found", [])


async def test_a_message_that_keeps_failing_is_given_up(database: Database, clock: Clock) -> None:
    await queue(database, clock)
    dispatcher = Dispatcher(database, {"slack": Recorder(failures=100)}, clock=clock)
    for _ in range(MAX_ATTEMPTS + 2):
        await dispatcher.run_once()
        clock.advance(days=1)
    [row] = await rows(database)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


async def test_a_dispatcher_that_died_holding_a_message_leaves_it_to_another_after_the_lease(
    database: Database, clock: Clock
) -> None:
    await queue(database, clock)
    died = Dispatcher(database, {"slack": Recorder()}, clock=clock)
    assert len(await died._claim()) == 1  # claimed, then the process was killed before sending
    recorder = Recorder()
    survivor = Dispatcher(database, {"slack": recorder}, clock=clock)
    assert await survivor.run_once() == 0
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await survivor.run_once() == 1
    assert recorder.sent == [{"case": 0}]


async def test_a_message_taken_over_after_a_lease_ran_out_is_counted_as_a_possible_resend(
    database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(database, clock, count=2)
    died = Dispatcher(database, {"slack": Recorder()}, clock=clock)
    assert len(await died._claim()) == 2  # claimed; the process may have sent them before it was killed
    survivor = Dispatcher(database, {"slack": Recorder(failures=1)}, clock=clock)
    clock.advance(seconds=LEASE.total_seconds() + 1)
    with caplog.at_level(logging.WARNING, logger="bot.outbox"):
        assert await survivor.run_once() == 1  # the first fails and is retried: no lease of another ran out then
        clock.advance(minutes=1)
        assert await survivor.run_once() == 1
    assert survivor.possible_resends == 2
    assert len([r for r in caplog.records if "may deliver it twice" in r.getMessage()]) == 2


async def test_messages_sent_or_retried_by_their_own_dispatcher_are_no_possible_resends(
    database: Database, clock: Clock
) -> None:
    await queue(database, clock, count=2)
    dispatcher = Dispatcher(database, {"slack": Recorder(failures=1)}, clock=clock)
    await dispatcher.run_once()
    clock.advance(minutes=1)
    await dispatcher.run_once()
    assert dispatcher.possible_resends == 0


async def test_two_dispatchers_deliver_each_message_exactly_once(database_url: str, clock: Clock) -> None:
    """Two dispatchers, each with its own connections as in two processes, share one outbox."""
    databases = [Database(database_url), Database(database_url)]
    try:
        await queue(databases[0], clock, count=60)
        sent: Counter[int] = Counter()

        async def send(kind: str, payload: dict[str, Any]) -> None:
            await asyncio.sleep(0.001)  # a network call: the other dispatcher claims meanwhile
            sent[payload["case"]] += 1

        async def drain(database: Database) -> None:
            dispatcher = Dispatcher(database, {"slack": send}, clock=clock)
            while await dispatcher.run_once():
                pass

        await asyncio.gather(drain(databases[0]), drain(databases[1]))
        assert sent == Counter(range(60))
        assert {row.status for row in await rows(databases[0])} == {"sent"}
    finally:
        for database in databases:
            await database.close()


class Enough(BaseException):
    """Ends the dispatcher's loop in a test: no loop catches it."""


async def test_a_database_outage_backs_the_dispatcher_off_up_to_a_minute_then_it_recovers(
    database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    unreachable = Database("postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    dispatcher = Dispatcher(unreachable, {"slack": Recorder()}, clock=clock)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 10:
            dispatcher.database = database  # the database is back
        if len(waits) == 12:
            raise Enough

    try:
        with pytest.raises(Enough):
            await dispatcher.run_forever(interval=1, sleep=sleep)
    finally:
        await unreachable.close()
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 1, 1]
    lines = [(record.levelname, record.getMessage()) for record in caplog.records if record.levelno >= logging.INFO]
    assert [level for level, _ in lines] == ["ERROR", "INFO"]
    assert lines[0][1].startswith("outbox dispatcher failed (")
    assert lines[1][1] == "outbox dispatcher works again after 9 failed attempts"
