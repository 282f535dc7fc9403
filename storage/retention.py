"""Retention's statements: bookkeeping rows pruned after their deduplication window, and the people and free texts
older than the retention window found or cleared. Every statement is idempotent and bounded, so several processes
may run the sweep at once."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, TypeVar

from sqlalchemy import CursorResult, Delete, GenerativeSelect, and_, delete, exists, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Answer,
    CaseEvent,
    Complaint,
    Conversation,
    InboundEvent,
    InboxUpdate,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from storage.queries import CUSTOMER_REPLY

Rows = TypeVar("Rows", bound=GenerativeSelect)


class Pruned(NamedTuple):
    inbox: int  # handled inbox updates
    events: int  # inbound event records
    outbox: int  # sent or failed outbox messages


async def _deleted(session: AsyncSession, statement: Delete) -> int:
    result: CursorResult[tuple[()]] = await session.exec(statement)
    return result.rowcount


def _unclaimed(rows: Rows, batch: int) -> Rows:
    """At most `batch` of the rows, skipping those another process's sweep is deleting (PostgreSQL), so that
    concurrent sweeps neither wait for nor deadlock on each other."""
    return rows.limit(batch).with_for_update(skip_locked=True)


async def prune_bookkeeping(
    session: AsyncSession, *, seen_before: datetime, sent_before: datetime, failed_before: datetime, batch: int
) -> Pruned:
    """Deletes at most `batch` rows of each kind past its window: handled inbox updates and inbound events received
    before `seen_before`, outbox messages sent before `sent_before` or failed (created) before `failed_before`."""
    inbox_key = tuple_(col(InboxUpdate.channel), col(InboxUpdate.update_id))
    old_inbox = select(InboxUpdate.channel, InboxUpdate.update_id).where(
        col(InboxUpdate.handled_at).is_not(None), col(InboxUpdate.received_at) < seen_before
    )
    event_key = tuple_(col(InboundEvent.channel), col(InboundEvent.event_id))
    old_events = select(InboundEvent.channel, InboundEvent.event_id).where(col(InboundEvent.received_at) < seen_before)
    old_outbox = select(OutboxMessage.id).where(
        (and_(col(OutboxMessage.status) == OutboxStatus.SENT, col(OutboxMessage.sent_at) < sent_before))
        | (and_(col(OutboxMessage.status) == OutboxStatus.FAILED, col(OutboxMessage.created_at) < failed_before))
    )
    return Pruned(
        inbox=await _deleted(session, delete(InboxUpdate).where(inbox_key.in_(_unclaimed(old_inbox, batch)))),
        events=await _deleted(session, delete(InboundEvent).where(event_key.in_(_unclaimed(old_events, batch)))),
        outbox=await _deleted(
            session, delete(OutboxMessage).where(col(OutboxMessage.id).in_(_unclaimed(old_outbox, batch)))
        ),
    )


class InactivePerson(NamedTuple):
    id: int
    channel: str
    platform_id: str


async def people_inactive_since(
    session: AsyncSession, *, before: datetime, after_id: int, limit: int
) -> list[InactivePerson]:
    """Up to `limit` people, by id from `after_id` on, added before `before` who have started no survey, given no answer
    and opened no case since (a survey the sweep closed for them is no activity of theirs). Events they sent outside
    a survey are recorded under their keyed hash, which the caller checks."""
    recent_survey = exists().where(
        col(Conversation.person_id) == col(Person.id), col(Conversation.started_at) >= before
    )
    recent_answer = exists().where(
        col(Conversation.person_id) == col(Person.id),
        col(Answer.conversation_id) == col(Conversation.id),
        col(Answer.updated_at) >= before,
    )
    recent_case = exists().where(col(Complaint.person_id) == col(Person.id), col(Complaint.created_at) >= before)
    rows = await session.exec(
        select(Person.id, Person.channel, Person.platform_id)
        .where(col(Person.id) > after_id, col(Person.created_at) < before, ~recent_survey, ~recent_answer, ~recent_case)
        .order_by(col(Person.id))
        .limit(limit)
    )
    return [InactivePerson(*row) for row in rows]


async def claim_person(session: AsyncSession, *, channel: str, platform_id: str) -> bool:
    """Locks the person's row for this transaction; False when it is gone or another process holds it (PostgreSQL;
    SQLite's writers queue anyway), so that two sweeps never forget the same person at once."""
    statement = (
        select(Person.id)
        .where(Person.channel == channel, Person.platform_id == platform_id)
        .with_for_update(skip_locked=True)
    )
    return (await session.exec(statement)).first() is not None


async def active_since(session: AsyncSession, *, respondent_keys: list[str], since: datetime) -> bool:
    """Whether an event of these keyed hashes was received at or after `since`."""
    statement = select(InboundEvent.event_id).where(
        col(InboundEvent.respondent_key).in_(respondent_keys), col(InboundEvent.received_at) >= since
    )
    return (await session.exec(statement.limit(1))).first() is not None


# What stays on a case's trail of a customer's reply older than the retention window.
EXPIRED_REPLY = "the customer replied (erased after the retention period)"


async def clear_free_text(session: AsyncSession, *, before: datetime) -> int:
    """Clears the customers' own words given before `before`: free-text answers, complaints' texts and their replies
    on the cases' trails."""
    answers: CursorResult[tuple[()]] = await session.exec(
        update(Answer).where(col(Answer.text).is_not(None), col(Answer.updated_at) < before).values(text=None)
    )
    cases: CursorResult[tuple[()]] = await session.exec(
        update(Complaint).where(col(Complaint.text).is_not(None), col(Complaint.created_at) < before).values(text=None)
    )
    replies: CursorResult[tuple[()]] = await session.exec(
        update(CaseEvent)
        .where(
            col(CaseEvent.actor) == "customer",
            col(CaseEvent.action) == "replied",
            col(CaseEvent.detail).startswith(CUSTOMER_REPLY),  # not one erased already
            col(CaseEvent.at) < before,
        )
        .values(detail=EXPIRED_REPLY)
    )
    return answers.rowcount + cases.rowcount + replies.rowcount
