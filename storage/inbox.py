"""The inbox's statements: raw platform updates stored before they are acknowledged, marked handled, retried."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import NamedTuple

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import InboxUpdate


async def store_new(session: AsyncSession, *, channel: str, payloads: Mapping[int, str]) -> set[int]:
    """Stores the updates (id -> payload) not stored before; returns their ids. A concurrent delivery of the same
    update makes the commit fail on the primary key."""
    stored = await session.exec(
        select(InboxUpdate.update_id).where(
            InboxUpdate.channel == channel, col(InboxUpdate.update_id).in_(list(payloads))
        )
    )
    new = set(payloads) - set(stored)
    session.add_all(
        InboxUpdate(channel=channel, update_id=update_id, payload=payloads[update_id]) for update_id in sorted(new)
    )
    return new


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
    await session.exec(
        update(InboxUpdate)
        .where(col(InboxUpdate.channel) == channel, col(InboxUpdate.update_id).in_(list(update_ids)))
        .values(payload=None, handled_at=now)
    )


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
