"""Jobs that several processes share: the row of a job says when it is next due, and the process whose update moves
that time on is the one that runs it, so a job runs once per period however many processes sweep, and a restart
neither repeats nor skips it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import CursorResult
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete, select, update
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


class JobTimes(NamedTuple):
    due_at: datetime
    last_run_at: datetime | None  # when a process last took a run


async def take_slots(
    session: AsyncSession,
    *,
    channel: str,
    paces: Sequence[float],
    now: datetime,
    until: datetime,
    soon: datetime | None = None,
) -> list[datetime]:
    """Send times for paced messages of `channel`, each its pace after the one before and after those any process
    took earlier: one row per channel ("pace:CHANNEL"), locked for the transaction, so that several dispatchers
    together keep to a campaign's rate. Only times up to `until` are taken, and past `soon` only a first one."""
    job = f"pace:{channel}"
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.exec(insert(ScheduledJob).values(name=job, due_at=now).on_conflict_do_nothing())
    free = select(ScheduledJob.due_at).where(col(ScheduledJob.name) == job).with_for_update()
    slot = max((await session.exec(free)).one(), now)
    slots: list[datetime] = []
    for pace in paces:
        if slot > until or (slots and soon is not None and slot > soon):
            break
        slots.append(slot)
        slot += timedelta(seconds=pace)
    if slots:
        await session.exec(update(ScheduledJob).where(col(ScheduledJob.name) == job).values(due_at=slot))
    return slots


async def plan(session: AsyncSession, *, job: str, due_at: datetime) -> JobTimes:
    """The job's row, first written due at `due_at` if the job has none yet (a job that waits for its first time,
    unlike claim_run's, which is due at once)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.exec(insert(ScheduledJob).values(name=job, due_at=due_at).on_conflict_do_nothing())
    row = (
        await session.exec(select(ScheduledJob.due_at, ScheduledJob.last_run_at).where(ScheduledJob.name == job))
    ).one()
    return JobTimes(*row)


async def replan(session: AsyncSession, *, job: str, was: datetime, due_at: datetime) -> None:
    """Moves the job to `due_at` unless another process moved it from `was` meanwhile."""
    await session.exec(
        update(ScheduledJob).where(col(ScheduledJob.name) == job, col(ScheduledJob.due_at) == was).values(due_at=due_at)
    )


# A run in progress, for a job whose run must finish even if its process dies: a row of its own ("JOB:run" style
# names are the caller's) whose `due_at` is when its lease ends (or when to retry it) and whose `last_run_at` holds
# the occurrence it runs. The row goes when the run finishes.


async def start_run(session: AsyncSession, *, job: str, occurrence: datetime, lease_until: datetime) -> None:
    """Records that `occurrence` of a job runs, held by this process until `lease_until`."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"due_at": lease_until, "last_run_at": occurrence}
    await session.exec(
        insert(ScheduledJob).values(name=job, **values).on_conflict_do_update(index_elements=["name"], set_=values)
    )


async def take_unfinished_run(
    session: AsyncSession, *, job: str, now: datetime, lease_until: datetime
) -> datetime | None:
    """The occurrence of an unfinished run whose lease ended (its process died, or it failed and waits for a retry),
    now held by this process until `lease_until`; None when there is none, or another process took it first."""
    row = (
        await session.exec(select(ScheduledJob.due_at, ScheduledJob.last_run_at).where(ScheduledJob.name == job))
    ).first()
    if row is None or row[0] > now or row[1] is None:
        return None
    taken: CursorResult[tuple[()]] = await session.exec(
        update(ScheduledJob)
        .where(col(ScheduledJob.name) == job, col(ScheduledJob.due_at) == row[0])
        .values(due_at=lease_until)
    )
    return row[1] if taken.rowcount == 1 else None


async def retry_run(session: AsyncSession, *, job: str, occurrence: datetime, at: datetime) -> None:
    """Ends the lease of the run of `occurrence` at `at`, for any process to take it up again then."""
    await session.exec(
        update(ScheduledJob)
        .where(col(ScheduledJob.name) == job, col(ScheduledJob.last_run_at) == occurrence)
        .values(due_at=at)
    )


async def finish_run(session: AsyncSession, *, job: str, occurrence: datetime) -> None:
    """Forgets the run of `occurrence`, done; a later occurrence's run that replaced it stays."""
    await session.exec(
        delete(ScheduledJob).where(col(ScheduledJob.name) == job, col(ScheduledJob.last_run_at) == occurrence)
    )


async def jobs_named(session: AsyncSession, *, names: list[str]) -> dict[str, JobTimes]:
    """The times of those of these jobs that have a row, by name."""
    statement = select(ScheduledJob.name, ScheduledJob.due_at, ScheduledJob.last_run_at)
    rows = await session.exec(statement.where(col(ScheduledJob.name).in_(names)))
    return {name: JobTimes(due_at, last_run_at) for name, due_at, last_run_at in rows}


async def due_at(session: AsyncSession, *, job: str) -> datetime | None:
    """When `job` is next due; None for a job never planned nor run."""
    return (await session.exec(select(ScheduledJob.due_at).where(col(ScheduledJob.name) == job))).first()
