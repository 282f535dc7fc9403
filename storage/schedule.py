"""Jobs that several processes share: the row of a job says when it is next due, and the process whose update moves
that time on is the one that runs it, so a job runs once per period however many processes sweep, and a restart
neither repeats nor skips it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ScheduledJob


async def claim_run(session: AsyncSession, *, job: str, now: datetime, next_due: datetime) -> bool:
    """Whether this process runs `job` now: true for the one transaction that finds it due (a new job is due at
    once) and moves it to `next_due`. On PostgreSQL a concurrent claim waits for this one and then finds it not due."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.exec(insert(ScheduledJob).values(name=job, due_at=now).on_conflict_do_nothing())
    claimed: CursorResult[tuple[()]] = await session.exec(
        update(ScheduledJob)
        .where(col(ScheduledJob.name) == job, col(ScheduledJob.due_at) <= now)
        .values(due_at=next_due, last_run_at=now)
    )
    return claimed.rowcount == 1


async def make_due(session: AsyncSession, *, job: str, at: datetime) -> None:
    """Brings `job` forward to `at`, as when a run left work over."""
    await session.exec(update(ScheduledJob).where(col(ScheduledJob.name) == job).values(due_at=at))


async def plan(session: AsyncSession, *, job: str, first_due: datetime) -> None:
    """Creates `job`'s row due at `first_due` unless it exists: a job that must not run at once (claim_run's new
    job is due at once) is planned first."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.exec(insert(ScheduledJob).values(name=job, due_at=first_due).on_conflict_do_nothing())


async def due_at(session: AsyncSession, *, job: str) -> datetime | None:
    """When `job` is next due; None for a job never planned nor run."""
    return (await session.exec(select(ScheduledJob.due_at).where(col(ScheduledJob.name) == job))).first()
