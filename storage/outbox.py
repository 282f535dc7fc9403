"""The outbox's statements: add a message, claim due ones for a lease, record what became of an attempt."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, CursorResult, and_, text
from sqlmodel import col, func, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import PENDING_PACED, PENDING_UNPACED, OutboxMessage, OutboxStatus


class Claimed(NamedTuple):
    """A message claimed for sending; `taken_over_from` names the sender whose lease ran out unsettled, if any."""

    id: int
    channel: str
    kind: str
    payload: str
    attempts: int
    taken_over_from: str | None
    correlation_id: str | None
    pace_seconds: float | None = None


def add(
    session: AsyncSession,
    *,
    channel: str,
    kind: str,
    payload: str,
    case_id: int | None,
    now: datetime,
    correlation_id: str | None = None,
    not_before: datetime | None = None,
    pace_seconds: float | None = None,
) -> None:
    """Adds a message to the caller's transaction; `correlation_id`: that of the update or request it answers;
    `not_before`: when it is first due (default `now`); `pace_seconds`: a paced message's spacing."""
    message = OutboxMessage(
        channel=channel,
        kind=kind,
        payload=payload,
        case_id=case_id,
        next_attempt_at=not_before or now,
        created_at=now,
        correlation_id=correlation_id,
        pace_seconds=pace_seconds,
    )
    session.add(message)


def _unleased(channels: list[str], now: datetime) -> ColumnElement[bool]:
    """Messages of the channels that no live lease holds."""
    return and_(
        col(OutboxMessage.channel).in_(channels),
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now),
    )


async def claim_due(
    session: AsyncSession,
    *,
    channels: list[str],
    now: datetime,
    until: datetime,
    worker: str,
    limit: int,
    paced_limit: int = 0,
) -> list[Claimed]:
    """Claims for `worker` until `until` up to `limit` due unpaced messages of the channels, oldest first, then
    up to `paced_limit` due paced ones: bulk messages never hold up the others."""
    claimed = await _claim(session, channels, now, until, worker, limit, paced=False)
    if paced_limit:
        claimed += await _claim(session, channels, now, until, worker, paced_limit, paced=True)
    return claimed


async def _claim(
    session: AsyncSession,
    channels: list[str],
    now: datetime,
    until: datetime,
    worker: str,
    limit: int,
    *,
    paced: bool,
) -> list[Claimed]:
    """Locks the due rows (rows another process holds are skipped on PostgreSQL), then leases them in one
    statement."""
    due = (
        select(OutboxMessage)
        .where(
            text(PENDING_PACED if paced else PENDING_UNPACED),  # as the partial index that serves the claim says
            _unleased(channels, now),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = [
        Claimed(
            row.id or 0,
            row.channel,
            row.kind,
            row.payload,
            row.attempts,
            # A lease that ran out unsettled: its holder stopped mid-send.
            row.claimed_by if row.claimed_until is not None else None,
            row.correlation_id,
            row.pace_seconds,
        )
        for row in await session.exec(due)
    ]
    if claimed:
        lease = (
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_([message.id for message in claimed]))
            .values(claimed_until=until, claimed_by=worker)
            .execution_options(synchronize_session=False)  # the rows read are not used again
        )
        await session.exec(lease)
    return claimed


async def next_due(session: AsyncSession, *, channels: list[str], now: datetime) -> datetime | None:
    """When the first message of the channels not yet due (or claimable) will be, if any."""
    statement = select(func.min(OutboxMessage.next_attempt_at)).where(
        col(OutboxMessage.status) == OutboxStatus.PENDING, _unleased(channels, now)
    )
    return (await session.exec(statement)).one()


async def settle(
    session: AsyncSession,
    *,
    message_ids: list[int],
    worker: str,
    status: OutboxStatus,
    error: str | None,
    next_attempt_at: datetime | None = None,
    sent_at: datetime | None = None,
) -> set[int]:
    """Records one attempt of each of these messages `worker` holds and ends their leases, in one statement; the ids
    recorded. A message left out had its lease run out and was taken over by another sender (nothing is recorded
    for it)."""
    values: dict[str, object] = {
        "status": status,
        "last_error": error and error[:200],
        "claimed_until": None,
        "attempts": col(OutboxMessage.attempts) + 1,
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if sent_at is not None:
        values["sent_at"] = sent_at
    statement = (
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(message_ids), col(OutboxMessage.claimed_by) == worker)
        .values(values)
        .returning(col(OutboxMessage.id))
        .execution_options(synchronize_session=False)  # no row of the session is read again
    )
    return set((await session.exec(statement)).scalars())


async def release(session: AsyncSession, *, worker: str, message_ids: list[int] | None = None) -> int:
    """Ends the leases `worker` holds on messages it has not settled (all, or those of `message_ids`), so that
    another sender claims them at once; returns how many."""
    held = [col(OutboxMessage.claimed_by) == worker, col(OutboxMessage.claimed_until).is_not(None)]
    if message_ids is not None:
        held.append(col(OutboxMessage.id).in_(message_ids))
    statement = update(OutboxMessage).where(*held).values(claimed_until=None, claimed_by=None)
    result: CursorResult[tuple[()]] = await session.exec(statement)
    return result.rowcount
