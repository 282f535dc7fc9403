"""Replies to events, sent once: what a redelivery, a platform asking to retry later, and a person out of reach do."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select

from bot.events import Respondent
from bot.outbound import Outcome, Refused, RetryLater, SendResult, Sent, Unreachable
from bot.prompts import Reply
from bot.replies import Progress, Replies, SendOne
from storage import queries
from storage.db import Database
from storage.models import Person

CHANNEL = "test"
WHO = Respondent(CHANNEL, "person-1", "en")


class Crash(Exception):
    """The process died after the platform took a message and before it was recorded."""


class Platform:
    """A channel's sends, scripted per message text: each attempt takes the next result (Sent once none are left).
    An error is raised instead of sending; a Crash after the message went out."""

    def __init__(self, **scripts: list[SendResult | Exception]) -> None:
        self.scripts = scripts
        self.received: list[str] = []  # what reached people, in order

    def reply(self, *texts: str) -> list[SendOne]:
        return [self._send(text) for text in texts]

    def _send(self, text: str) -> SendOne:
        async def send() -> SendResult:
            script = self.scripts.get(text)
            result = script.pop(0) if script else Sent()
            if isinstance(result, Sent | Crash):
                self.received.append(text)
            if isinstance(result, Exception):
                raise result
            return result

        return send


def key(who: Respondent) -> str:
    return hashlib.sha256(f"{who.channel}:{who.user_id}".encode()).hexdigest()


async def applied(database: Database, event_id: str) -> None:
    """The event as the engine leaves it: applied and recorded, none of its reply sent."""
    async with database.transaction() as session:
        connection = await session.connection()
        reply = Reply().model_dump_json()
        await queries.record_event(connection, channel=CHANNEL, event_id=event_id, respondent_key=None, reply=reply)


async def delivered(replies: Replies, event_id: str) -> int | None:
    record = await replies.record(CHANNEL, event_id)
    return None if record is None else record.delivered


async def test_a_redelivered_event_sends_only_the_messages_not_yet_delivered(database: Database) -> None:
    replies, platform = Replies(database, key), Platform(third=[ConnectionError("the network went down")])
    await applied(database, "e1")
    with pytest.raises(ConnectionError):
        await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=False)
    assert await delivered(replies, "e1") == 2
    again = await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=True)
    assert again == Progress(3)
    assert platform.received == ["first", "second", "third"]
    assert await delivered(replies, "e1") == 3


async def test_a_retry_later_stops_the_reply_and_a_later_attempt_sends_the_rest(database: Database) -> None:
    replies, platform = Replies(database, key), Platform(second=[RetryLater("429", after=1.0)])
    await applied(database, "e1")
    first = await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=False)
    assert (first, first.done, platform.received) == (Progress(1, RetryLater("429", after=1.0)), False, ["first"])
    later = await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=True)
    assert (later, later.done, platform.received) == (Progress(3), True, ["first", "second", "third"])


async def test_an_unreachable_person_is_marked_and_the_rest_of_the_reply_dropped(database: Database) -> None:
    replies, platform = Replies(database, key), Platform(second=[Unreachable("blocked the bot")])
    async with database.transaction() as session:
        await queries.get_or_create_person(session, channel=CHANNEL, platform_id=WHO.user_id, language="en")
    await applied(database, "e1")
    progress = await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=False)
    assert (progress, platform.received) == (Progress(3), ["first"])
    async with database.snapshot() as session:
        assert list(await session.exec(select(Person.unreachable))) == [True]
    assert await replies.unreachable_ids(CHANNEL) == {WHO.user_id}
    await replies.send(CHANNEL, "e1", platform.reply("first", "second", "third"), to=WHO, redelivered=True)
    assert platform.received == ["first"]  # a redelivery does not try again


async def test_a_refused_message_is_not_retried_and_the_next_one_is_sent(database: Database) -> None:
    replies, platform = Replies(database, key), Platform(first=[Refused("message too long")])
    progress = await replies.send_direct(CHANNEL, "e1", platform.reply("first", "second"), to=None)
    await replies.send_direct(CHANNEL, "e1", platform.reply("first", "second"), to=None)
    assert (progress, platform.received) == (Progress(2), ["second"])


async def test_a_direct_reply_is_recorded_and_sent_once(database: Database) -> None:
    replies, platform = Replies(database, key), Platform()
    for _ in range(2):  # the update, then its redelivery
        await replies.send_direct(CHANNEL, "help-1", platform.reply("help text"), to=WHO)
    assert platform.received == ["help text"]
    async with database.snapshot() as session:
        record = await queries.get_event(session, channel=CHANNEL, event_id="help-1")
    assert record is not None and record.respondent_key == key(WHO)  # found and erased by the person's /forget


async def test_sends_are_counted_by_channel_and_outcome_with_resends_after_a_restart(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    before = Replies(database, key)
    platform = Platform(first=[Crash()], second=[Unreachable("deactivated")], third=[RetryLater("500")])
    with pytest.raises(Crash):
        await before.send_direct(CHANNEL, "e1", platform.reply("first", "second"), to=WHO)
    assert before.counts == {}  # a send cut short by a crash is not known to have gone out

    after = Replies(database, key)  # the restarted process
    await after.send_direct(CHANNEL, "e1", platform.reply("first", "second"), to=WHO)
    await after.send_direct(CHANNEL, "e2", platform.reply("third"), to=WHO)
    await after.send_direct("other", "e3", platform.reply("fourth"), to=WHO)
    assert platform.received == ["first", "first", "fourth"]
    assert after.counts == {
        (CHANNEL, Outcome.SENT): 1,
        (CHANNEL, Outcome.POSSIBLE_RESEND): 1,
        (CHANNEL, Outcome.UNREACHABLE): 1,
        (CHANNEL, Outcome.RETRY_LATER): 1,
        ("other", Outcome.SENT): 1,
    }
    assert "resent after restart: message 1 of e1 may have gone out before the crash too (1 so far)" in caplog.text
