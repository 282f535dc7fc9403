"""What /metrics reads from the database at scrape time: cases by state, answers stored, the outbox's backlog."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Answer, Complaint, OutboxMessage, OutboxStatus


class CaseTally(NamedTuple):
    """Cases by state, and how many of them were escalated for missing their SLA."""

    by_state: dict[str, int]
    escalated: int


class Backlog(NamedTuple):
    """The outbox's pending messages, and when the oldest of them was added (None: there is none)."""

    pending: int
    oldest: datetime | None


async def case_tally(session: AsyncSession) -> CaseTally:
    by_state = await session.exec(select(Complaint.status, func.count()).group_by(col(Complaint.status)))
    escalated = await session.exec(select(func.count()).where(col(Complaint.escalations) > 0))
    return CaseTally({state: count for state, count in by_state}, escalated.one())


async def answers_stored(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(Answer))).one()


async def outbox_backlog(session: AsyncSession) -> Backlog:
    pending = select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status == OutboxStatus.PENDING
    )
    count, oldest = (await session.exec(pending)).one()
    return Backlog(count, oldest)
