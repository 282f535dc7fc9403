"""The outbox: sent once when the change commits, never when it rolls back; retried; shared by dispatchers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from typing import cast

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot import correlation
from bot.correlation import correlated
from bot.outbound import (
    CaseAlert,
    CaseContact,
    OutboundMessage,
    Outcome,
    Refused,
    RetryLater,
    SendCounts,
    SendResult,
    Sent,
    StaffNotice,
    Unreachable,
)
from bot.outbox import (
    LEASE,
    LIMITED_IN_FLIGHT,
    MAX_ATTEMPTS,
    PACED_BATCH,
    SHARED_OPENING,
    Dispatcher,
    Pace,
    enqueue,
    max_in_flight,
)
from bot.replies import Replies
from storage.cases import staff_message
from storage.db import Database
from storage.models import Complaint, OutboxMessage, OutboxStatus, Person, ScheduledJob
from tests.conftest import Clock


class Recorder:
    """A sender that fails the first `failures` sends (raising `failure`, or answering it), then records what it
    sends."""

    def __init__(self, failures: int = 0, failure: Exception | SendResult | None = None) -> None:
        self.failures = failures
        self.failure = failure or ConnectionError("the platform is down")
        self.sent: list[OutboundMessage] = []

    async def __call__(self, message: OutboundMessage) -> SendResult:
        if self.failures:
            self.failures -= 1
            if isinstance(self.failure, Exception):
                raise self.failure
            return self.failure
        self.sent.append(message)
        return Sent()


def alert(case_id: int) -> CaseAlert:
    return CaseAlert(case_id=case_id, target="CSTAFF")


async def queue(database: Database, clock: Clock, count: int = 1) -> None:
    async with database.transaction() as session:
        for number in range(count):
            enqueue(session, channel="slack", message=alert(number), now=clock.now)


async def rows(database: Database) -> list[OutboxMessage]:
    async with database.snapshot() as session:
        return list(await session.exec(select(OutboxMessage)))


async def test_a_message_of_a_rolled_back_change_is_never_sent(database: Database, clock: Clock) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            enqueue(session, channel="slack", message=alert(1), now=clock.now)
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
    assert recorder.sent == [alert(0)]
    [row] = await rows(database)
    assert (row.status, row.attempts) == ("sent", 4)


async def test_a_refusal_for_good_is_not_retried(database: Database, clock: Clock) -> None:
    await queue(database, clock)
    recorder = Recorder(failures=1, failure=Refused("channel_not_found"))
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
    assert recorder.sent == [alert(0)]


async def test_a_dispatcher_that_stops_releases_what_it_holds_and_another_sends_it_at_once(
    database: Database, clock: Clock
) -> None:
    await queue(database, clock, count=3)
    stopping = Dispatcher(database, {"slack": Recorder()}, clock=clock)
    assert await stopping.run_once() == 3
    await queue(database, clock, count=2)
    assert len(await stopping._claim()) == 2  # claimed, then the process was told to stop before sending
    assert await stopping.release() == 2  # the three it sent are settled: not its to release
    recorder = Recorder()
    other = Dispatcher(database, {"slack": recorder}, clock=clock)
    assert await other.run_once() == 2  # without waiting for the lease
    assert recorder.sent == [alert(0), alert(1)]
    assert other.counts["slack", Outcome.POSSIBLE_RESEND] == 0


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
    assert survivor.counts["slack", Outcome.POSSIBLE_RESEND] == 2
    assert len([r for r in caplog.records if "may deliver it twice" in r.getMessage()]) == 2


async def test_messages_sent_or_retried_by_their_own_dispatcher_are_no_possible_resends(
    database: Database, clock: Clock
) -> None:
    await queue(database, clock, count=2)
    dispatcher = Dispatcher(database, {"slack": Recorder(failures=1)}, clock=clock)
    await dispatcher.run_once()
    clock.advance(minutes=1)
    await dispatcher.run_once()
    assert dispatcher.counts["slack", Outcome.POSSIBLE_RESEND] == 0


async def test_two_dispatchers_deliver_each_message_exactly_once(database_url: str, clock: Clock) -> None:
    """Two dispatchers, each with its own connections as in two processes, share one outbox."""
    databases = [Database(database_url), Database(database_url)]
    try:
        await queue(databases[0], clock, count=60)
        sent: Counter[int] = Counter()

        async def send(message: OutboundMessage) -> SendResult:
            await asyncio.sleep(0.001)  # a network call: the other dispatcher claims meanwhile
            assert isinstance(message, CaseAlert)
            sent[message.case_id] += 1
            return Sent()

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


async def test_a_message_is_stored_with_its_kind_and_case(database: Database, clock: Clock) -> None:
    async with database.transaction() as session:
        enqueue(session, channel="slack", message=alert(7), now=clock.now)
        enqueue(session, channel="slack", message=StaffNotice(target="CSTAFF", text="A handler failed"), now=clock.now)
    assert [(row.kind, row.case_id) for row in await rows(database)] == [("case_alert", 7), ("staff_notice", None)]


async def test_a_message_that_does_not_fit_its_model_is_not_written(database: Database, clock: Clock) -> None:
    with pytest.raises(ValidationError):
        async with database.transaction() as session:
            malformed = CaseAlert.model_construct(case_id=cast(int, "seven"), target="CSTAFF")  # a caller's bug
            enqueue(session, channel="slack", message=malformed, now=clock.now)
    assert await rows(database) == []


@pytest.mark.parametrize(
    "payload",
    [
        '{"kind": "case_alert", "case_id": 1}',  # no target
        '{"kind": "case_alert", "case_id": "my words", "target": "CSTAFF"}',  # shown in no log line
        '{"kind": "case_contact", "case_id": 1, "target": "CSTAFF"}',  # another kind's payload
        "not json",
    ],
)
async def test_a_row_that_does_not_fit_its_model_fails_at_once_and_is_never_sent(
    database: Database, clock: Clock, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    async with database.transaction() as session:
        session.add(OutboxMessage(channel="slack", kind="case_alert", payload=payload, next_attempt_at=clock.now))
    recorder = Recorder()
    dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock)
    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        assert await dispatcher.run_once() == 0
    clock.advance(days=1)
    assert await dispatcher.run_once() == 0
    [row] = await rows(database)
    assert (row.status, row.attempts, recorder.sent) == ("failed", 1, [])
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("outbox: slack message 1 is not sent") and "my words" not in line
    assert dispatcher.counts == Counter({("slack", Outcome.INVALID): 1})


async def test_a_platform_that_asks_for_a_wait_is_not_called_again_before_it(database: Database, clock: Clock) -> None:
    await queue(database, clock)
    recorder = Recorder(failures=1, failure=RetryLater("ratelimited", after=600))
    dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock)
    assert await dispatcher.run_once() == 0
    clock.advance(minutes=9)  # past the first backoff, not past the wait asked
    assert await dispatcher.run_once() == 0
    clock.advance(minutes=1)
    assert await dispatcher.run_once() == 1
    assert recorder.sent == [alert(0)]


@pytest.mark.parametrize(("asked", "waited"), [(0.0, timedelta(seconds=2)), (1e14, timedelta(days=1))])
async def test_a_wait_asked_is_never_shorter_than_the_backoff_nor_longer_than_a_day(
    database: Database, clock: Clock, asked: float, waited: timedelta
) -> None:
    # A receiver's "Retry-After: 0" would spend every attempt at once; an absurd one would overflow the clock.
    await queue(database, clock)
    dispatcher = Dispatcher(database, {"slack": Recorder(failures=1, failure=RetryLater("503", after=asked))}, clock)
    assert await dispatcher.run_once() == 0
    [row] = await rows(database)
    assert (row.status, row.attempts, row.next_attempt_at) == (OutboxStatus.PENDING, 1, clock.now + waited)


async def a_case_of(database: Database, platform_id: str) -> int:
    async with database.transaction() as session:
        person = Person(channel="telegram", platform_id=platform_id)
        session.add(person)
        await session.flush()
        case = Complaint(person_id=person.id, channel="telegram", reasons="explicit")
        session.add(case)
        await session.flush()
        assert case.id is not None
        return case.id


async def test_a_person_who_cannot_be_reached_is_marked_and_their_message_fails(
    database: Database, clock: Clock
) -> None:
    case_id = await a_case_of(database, "777")
    async with database.transaction() as session:
        contact = CaseContact(case_id=case_id, platform_id="777", message="Which account?")
        enqueue(session, channel="telegram", message=contact, now=clock.now)
    recorder = Recorder(failures=1, failure=Unreachable("the customer blocked the bot"))
    dispatcher = Dispatcher(database, {"telegram": recorder}, clock=clock)
    assert await dispatcher.run_once() == 0
    clock.advance(days=1)
    assert await dispatcher.run_once() == 0
    [row] = await rows(database)
    async with database.snapshot() as session:
        person = (await session.exec(select(Person))).one()
    assert (row.status, person.unreachable, recorder.sent) == ("failed", True, [])


async def test_where_a_sent_alert_is_is_recorded_for_the_case_and_channel(database: Database, clock: Clock) -> None:
    case_id = await a_case_of(database, "777")
    async with database.transaction() as session:
        enqueue(session, channel="telegram", message=CaseAlert(case_id=case_id, target="-100123"), now=clock.now)

    async def send(message: OutboundMessage) -> SendResult:
        return Sent(reference="4242")

    assert await Dispatcher(database, {"telegram": send}, clock=clock).run_once() == 1
    async with database.snapshot() as session:
        assert await staff_message(session, case_id=case_id, channel="telegram") == ("-100123", "4242")
        assert await staff_message(session, case_id=case_id, channel="slack") is None


async def test_what_became_of_each_attempt_is_counted_by_channel_and_outcome(database: Database, clock: Clock) -> None:
    await queue(database, clock, count=3)
    dispatcher = Dispatcher(database, {"slack": Recorder(failures=2)}, clock=clock)
    await dispatcher.run_once()
    assert dispatcher.counts == Counter({("slack", Outcome.RETRY_LATER): 2, ("slack", Outcome.SENT): 1})


async def test_inline_replies_and_outbox_messages_are_counted_in_one_tally(database: Database, clock: Clock) -> None:
    counts = SendCounts()
    async with database.transaction() as session:
        enqueue(session, channel="slack", message=alert(1), now=clock.now)
    await Dispatcher(database, {"slack": Recorder()}, clock=clock, counts=counts).run_once()
    replies = Replies(database, lambda who: who.user_id, counts)

    async def refused() -> SendResult:
        return Refused("message too long")

    await replies.send_direct("slack", "event-1", [refused], to=None)
    assert counts == Counter({("slack", Outcome.SENT): 1, ("slack", Outcome.REFUSED): 1})


async def test_a_message_is_sent_under_the_correlation_id_of_the_update_that_queued_it(
    database: Database, clock: Clock, caplog: pytest.LogCaptureFixture, correlated_records: None
) -> None:
    with correlated("telegram-41"):
        await queue(database, clock)
    await queue(database, clock)  # queued outside any update, by a test or an older version
    sent_under: list[str | None] = []

    async def send(message: OutboundMessage) -> SendResult:
        sent_under.append(correlation.current())
        return Sent()

    with caplog.at_level(logging.INFO, logger="bot.outbox"):
        assert await Dispatcher(database, {"slack": send}, clock=clock).run_once() == 2
    second = max(row.id or 0 for row in await rows(database))
    assert sent_under == ["telegram-41", f"outbox-{second}"]
    assert [getattr(record, "correlation_id", None) for record in caplog.records] == sent_under
    assert correlation.current() is None  # nothing left behind


async def test_paced_messages_whose_turn_comes_after_their_lease_wait_for_a_later_claim(
    database: Database, clock: Clock
) -> None:
    # Sent after its lease, a message may already have been claimed, and sent, by another process.
    async with database.transaction() as session:
        for number in range(5):
            enqueue(session, channel="slack", message=alert(number), now=clock.now, pace=Pace(clock.now, 0.1))
    recorder = Recorder()
    sent = []
    for _ in range(3):  # a dispatcher each round: its pacing starts afresh
        dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock, lease=timedelta(seconds=0.2))
        sent.append(await dispatcher.run_once())  # at 0 s and 0.1 s; 0.2 s is past 80 % of the lease
        clock.advance(seconds=1)
    assert sent == [2, 2, 1]
    assert recorder.sent == [alert(number) for number in range(5)]


async def test_two_dispatchers_share_a_campaigns_pace(database: Database, clock: Clock) -> None:
    # Each pacing on its own, two processes would catch a late campaign up at twice its rate, past the platform's.
    async with database.transaction() as session:
        for number in range(10):
            enqueue(session, channel="slack", message=alert(number), now=clock.now, pace=Pace(clock.now, 0.05))
    recorder = Recorder()
    first, second = (Dispatcher(database, {"slack": recorder}, clock=clock) for _ in range(2))

    while sum(await asyncio.gather(first.run_once(), second.run_once())):
        pass

    assert sorted(recorder.sent, key=lambda message: cast(CaseAlert, message).case_id) == [alert(n) for n in range(10)]
    async with database.snapshot() as session:
        paced_until = await session.get(ScheduledJob, "pace:slack")
    assert paced_until is not None and paced_until.due_at == clock.now + timedelta(seconds=0.5)  # ten paces, one line


async def test_paced_messages_whose_turn_comes_later_are_given_back_for_any_dispatcher_at_once(
    database: Database, clock: Clock
) -> None:
    # Held for the lease instead, they would wait a minute whenever their dispatcher stopped or fell behind.
    async with database.transaction() as session:
        for number in range(4):
            enqueue(session, channel="slack", message=alert(number), now=clock.now, pace=Pace(clock.now, 0.1))
    recorder = Recorder()
    first, other = (Dispatcher(database, {"slack": recorder}, clock=clock) for _ in range(2))

    assert await first.run_once() == 3  # at 0, 0.1 and 0.2 s; 0.3 s is past the 0.2 s a batch takes in
    clock.advance(seconds=0.3)  # well within the lease
    assert await other.run_once() == 1

    assert recorder.sent == [alert(number) for number in range(4)]
    assert other.counts["slack", Outcome.POSSIBLE_RESEND] == 0  # given back, not taken over


class Overlaps:
    """A sender whose sends take a while: the most in progress at once, and whether each could share its opening."""

    def __init__(self) -> None:
        self.sending = self.most = 0
        self.shared: set[bool] = set()

    async def __call__(self, message: OutboundMessage) -> SendResult:
        self.sending += 1
        self.most = max(self.most, self.sending)
        self.shared.add(SHARED_OPENING.get())
        await asyncio.sleep(0.3)
        self.sending -= 1
        return Sent()


@pytest.mark.parametrize(("pace", "most", "shared"), [(0.02, LIMITED_IN_FLIGHT, False), (1e-6, None, True)])
async def test_a_campaign_at_a_platforms_rate_overlaps_a_few_sends_and_one_without_a_limit_many(
    database: Database, clock: Clock, pace: float, most: int | None, shared: bool
) -> None:
    # At a platform's rate, sends held up together would reach it together, past its limit.
    async with database.transaction() as session:
        for number in range(PACED_BATCH):
            enqueue(session, channel="slack", message=alert(number), now=clock.now, pace=Pace(clock.now, pace))
    sender = Overlaps()
    dispatcher = Dispatcher(database, {"slack": sender}, clock=clock)
    while await dispatcher.run_once():
        pass
    assert sender.most == (most or max_in_flight(database))
    assert sender.shared == {shared}


async def test_a_message_to_staff_queued_during_a_large_campaign_goes_out_before_the_rest_of_it(
    database: Database, clock: Clock
) -> None:
    async with database.transaction() as session:
        for number in range(150):
            enqueue(session, channel="slack", message=alert(number), now=clock.now, pace=Pace(clock.now, 1e-6))
    recorder = Recorder()
    dispatcher = Dispatcher(database, {"slack": recorder}, clock=clock)
    assert await dispatcher.run_once() == PACED_BATCH
    async with database.transaction() as session:
        enqueue(session, channel="slack", message=alert(1000), now=clock.now)

    while await dispatcher.run_once():
        pass

    campaign = [alert(number) for number in range(150)]
    assert recorder.sent == [*campaign[:PACED_BATCH], alert(1000), *campaign[PACED_BATCH:]]  # at the next claim
