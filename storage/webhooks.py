"""Webhook deliveries in the outbox: those that failed for good, listed for the operator and queued again on
request; and what they say of a person, erased when the person is forgotten."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, CursorResult, and_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OutboxMessage, OutboxStatus

WEBHOOK_EVENT = "webhook_event"  # the outbox kind of webhook deliveries, bot.outbound.Kind.WEBHOOK_EVENT
PERSONAL_FIELDS = ("person_id", "reference")  # of an event's data; its words are under "text", its answers' too


class FailedDelivery(NamedTuple):
    id: int
    channel: str
    payload: str  # the event as stored, JSON
    attempts: int
    last_error: str | None
    created_at: datetime


def _failed(channel_prefix: str) -> ColumnElement[bool]:
    return and_(
        col(OutboxMessage.status) == OutboxStatus.FAILED,
        col(OutboxMessage.channel).startswith(channel_prefix, autoescape=True),
    )


async def failed_deliveries(session: AsyncSession, *, channel_prefix: str, limit: int) -> list[FailedDelivery]:
    """Up to `limit` failed messages of the channels named with `channel_prefix`, oldest first."""
    statement = select(OutboxMessage).where(_failed(channel_prefix)).order_by(col(OutboxMessage.id)).limit(limit)
    return [
        FailedDelivery(row.id, row.channel, row.payload, row.attempts, row.last_error, row.created_at)
        for row in await session.exec(statement)
        if row.id is not None
    ]


async def retry_deliveries(session: AsyncSession, *, channel_prefix: str, ids: list[int] | None, now: datetime) -> int:
    """Queues the failed messages (`ids`, or all with None) of those channels again, with their attempts counted
    afresh; returns how many."""
    statement = (
        update(OutboxMessage)
        .where(_failed(channel_prefix))
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, claimed_until=None, claimed_by=None)
    )
    if ids is not None:
        statement = statement.where(col(OutboxMessage.id).in_(ids))
    result: CursorResult[tuple[()]] = await session.exec(statement)
    return result.rowcount


async def erase_person_from_events(session: AsyncSession, *, conversation_ids: list[int], case_ids: list[int]) -> int:
    """Webhook events about these surveys or cases, sent or not, keep their scores and states but no longer name the
    person (their number, the reference) nor hold their words; returns how many were changed."""
    surveys, cases = set(conversation_ids), set(case_ids)
    erased = 0
    for message in await session.exec(select(OutboxMessage).where(OutboxMessage.kind == WEBHOOK_EVENT)):
        event = json.loads(message.payload)
        data = event["data"]
        if data.get("response_id") in surveys or data.get("case") in cases:
            data |= {field: None for field in (*PERSONAL_FIELDS, "text") if field in data}
            for answer in data.get("answers", []):
                answer |= {"text": None} if "text" in answer else {}
            message.payload = json.dumps(event)
            erased += 1
    return erased
