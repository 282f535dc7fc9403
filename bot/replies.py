"""Replies to platform events, sent once: the record of what each event's reply delivered, and the send loop.

A channel renders a reply into messages and hands over one send function per message; `Replies` skips the messages
an earlier attempt delivered, sends the rest in order and records each right after it went out, so a redelivered
event sends only what is missing. A crash between a send and its record sends that message again: counted, logged
"resent after restart" (the platforms have no idempotent send).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Respondent
from bot.outbound import Outcome, Refused, RetryLater, SendCounts, SendResult, Sent, Unreachable, outcome_of
from bot.prompts import Reply
from storage import queries
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)
SendOne = Callable[[], Awaitable[SendResult]]  # sends one message of a reply, on its channel
NO_REPLY = Reply().model_dump_json()  # what the record of an event its channel answers by itself holds


@dataclass(frozen=True, slots=True)
class Record:
    """An event's once-only record, as sending the event's reply needs it."""

    delivered: int  # how many of the reply's messages need no more sending
    received_at: datetime  # when the event was first recorded: before this process started means after a restart


@dataclass(frozen=True, slots=True)
class Progress:
    """What sending a reply came to."""

    delivered: int  # messages of the reply that need no more sending, by this attempt or earlier ones
    stopped: RetryLater | None = None  # the reason the rest waits for a later attempt of the event

    @property
    def done(self) -> bool:
        return self.stopped is None


class Replies:
    """Sends each event's reply once, keeping count by channel and outcome in `counts`."""

    def __init__(
        self, database: Database, respondent_key: Callable[[Respondent], str], counts: SendCounts | None = None
    ) -> None:
        self.database = database
        self.respondent_key = respondent_key  # who a direct reply answered, as their /forget finds it
        self.started_at = utcnow()  # events recorded before this were begun by an earlier process
        self.counts = SendCounts() if counts is None else counts  # shared with the outbox's when given

    async def send(
        self, channel: str, event_id: str, messages: Sequence[SendOne], *, to: Respondent | None, redelivered: bool
    ) -> Progress:
        """Sends the reply of an event the engine applied and recorded; `redelivered`: the event came before, so
        part of its reply may be out already."""
        record = await self.record(channel, event_id) if redelivered else None
        return await self._send(channel, event_id, messages, record or Record(0, self.started_at), to)

    async def send_direct(
        self, channel: str, event_id: str, messages: Sequence[SendOne], *, to: Respondent | None
    ) -> Progress:
        """Sends what a channel answers by itself (help, lists, staff prompts), recording the event first as the
        engine records the events it applies, so that a redelivery is not answered again. `to`: the person
        answered, whose /forget deletes the record; None for a staff or group chat."""
        return await self._send(channel, event_id, messages, await self._record_direct(channel, event_id, to), to)

    async def record(self, channel: str, event_id: str) -> Record | None:
        """What the once-only record of an event holds, if the event was recorded."""
        async with self.database.snapshot() as session:
            seen = await queries.get_event(session, channel=channel, event_id=event_id)
        return None if seen is None else Record(seen.delivered, seen.received_at)

    async def set_reachable(self, who: Respondent, reachable: bool) -> None:
        """Marks whether the platform delivers to this person (False after they blocked the bot)."""
        async with self.database.transaction() as session:
            await queries.set_reachable(session, channel=who.channel, platform_id=who.user_id, reachable=reachable)

    async def unreachable_ids(self, channel: str) -> set[str]:
        """The platform ids of everyone the channel cannot deliver to."""
        async with self.database.snapshot() as session:
            return await queries.unreachable_ids(session, channel=channel)

    async def _send(
        self, channel: str, event_id: str, messages: Sequence[SendOne], record: Record, to: Respondent | None
    ) -> Progress:
        after_restart = record.received_at < self.started_at
        for number, send_one in enumerate(messages[record.delivered :], start=record.delivered + 1):
            result = await send_one()
            # After a restart the first message not recorded may have gone out just before the crash.
            self._count(channel, event_id, number, result, resent=after_restart and number == record.delivered + 1)
            match result:
                case RetryLater():
                    return Progress(number - 1, result)
                case Unreachable():
                    log.info("%s: unreachable (%s): nothing more of this reply is sent", channel, result.reason)
                    if to is not None:
                        await self.set_reachable(to, False)
                    await self._mark_delivered(channel, event_id, len(messages))
                    return Progress(len(messages))
                case Sent() | Refused():
                    await self._mark_delivered(channel, event_id, number)
        return Progress(max(record.delivered, len(messages)))

    def _count(self, channel: str, event_id: str, number: int, result: SendResult, resent: bool) -> None:
        self.counts[channel, outcome_of(result)] += 1
        if resent and isinstance(result, Sent):
            self.counts[channel, Outcome.POSSIBLE_RESEND] += 1
            log.warning(
                "resent after restart: message %d of %s may have gone out before the crash too (%d so far)",
                number,
                event_id,
                self.counts[channel, Outcome.POSSIBLE_RESEND],
            )

    async def _mark_delivered(self, channel: str, event_id: str, count: int) -> None:
        """Records that the first `count` messages of an event's reply need no more sending."""

        async def record(session: AsyncSession) -> None:
            await queries.mark_delivered(await session.connection(), channel=channel, event_id=event_id, count=count)

        await self.database.group_commit.run(record)

    async def _record_direct(self, channel: str, event_id: str, to: Respondent | None) -> Record:
        """The record of an event its channel answers by itself; one recorded before (a redelivery, or an event a
        case step recorded) keeps its record."""
        key = None if to is None else self.respondent_key(to)
        try:
            async with self.database.transaction() as session:
                await queries.record_event(
                    await session.connection(), channel=channel, event_id=event_id, respondent_key=key, reply=NO_REPLY
                )
        except IntegrityError:  # recorded before
            recorded = await self.record(channel, event_id)
            if recorded is not None:
                return recorded
        return Record(0, utcnow())
