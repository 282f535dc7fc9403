"""The inbox's statements: raw platform updates stored before they are acknowledged, marked handled, retried."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxUpdate
from storage.types import utcnow


async def store_new(session: AsyncSession, *, channel: str, payloads: Mapping[int, str]) -> set[int]:
    """Stores the updates (id -> payload) not stored before; returns their ids. One Core statement, one round trip:
    every update passes here before it is acknowledged. An update stored before, by a concurrent delivery too, is
    left as it is (on PostgreSQL that delivery's insert waits for the other to commit or roll back)."""
    if not payloads:
        return set()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    rows = [  # in id order, so that two batches sharing updates lock their keys in the same order
        {"channel": channel, "update_id": update_id, "payload": payloads[update_id], "attempts": 0, "received_at": now}
        for update_id in sorted(payloads)
    ]
    statement = insert(InboxUpdate).values(rows).on_conflict_do_nothing().returning(col(InboxUpdate.update_id))
    return set((await (await session.connection()).execute(statement)).scalars())  # Core: no ORM bulk insert


async def count_failure(
    session: AsyncSession, *, channel: str, update_id: int, give_up_after: int, now: datetime
) -> int | None:
    """Counts a failed handling; from `give_up_after` failures on the update counts as handled (its payload dropped).
    Returns the failures so far, or None when it is handled already (or unknown)."""
    row = await session.get(InboxUpdate, (channel, update_id))
    if row is None or row.handled_at is not None:
        return None
    row.attempts += 1
    if row.attempts >= give_up_after:
        row.payload, row.handled_at = None, now
    return row.attempts


async def mark_handled(session: AsyncSession, *, channel: str, update_ids: Collection[int], now: datetime) -> None:
    """The updates are handled: only their ids stay, for deduplication; the payloads, which name people, go."""
    statement = (
        update(InboxUpdate)
        .where(col(InboxUpdate.channel) == channel, col(InboxUpdate.update_id).in_(list(update_ids)))
        .values(payload=None, handled_at=now)
    )
    await (await session.connection()).execute(statement)  # Core: no ORM bulk update searching the session


class PendingUpdate(NamedTuple):
    update_id: int
    payload: str  # the update as the platform sent it (JSON)


async def unhandled(session: AsyncSession, *, channel: str) -> list[PendingUpdate]:
    """The stored updates not handled yet, oldest first."""
    rows = await session.exec(
        select(InboxUpdate.update_id, InboxUpdate.payload)
        .where(InboxUpdate.channel == channel, col(InboxUpdate.handled_at).is_(None))
        .order_by(col(InboxUpdate.update_id))
    )
    return [PendingUpdate(update_id, payload) for update_id, payload in rows if payload]


async def newest_update_id(session: AsyncSession, *, channel: str, at_most: int) -> int | None:
    """The highest stored update id from 1 to `at_most` (ids outside were stored unchecked by an older version)."""
    statement = select(func.max(InboxUpdate.update_id)).where(
        InboxUpdate.channel == channel, col(InboxUpdate.update_id).between(1, at_most)
    )
    newest = (await session.exec(statement)).one()
    return None if newest is None else int(newest)
