"""One pulse shared by real processes on PostgreSQL: however they race for its due time, it runs once and each
recipient is invited once; a process killed in the middle of a run leaves the rest to another."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.cases import CaseDesk
from bot.config import PulseSettings
from bot.engine import Engine
from bot.invitations import Invitations
from bot.pulses import LEASE, PulseRun, Pulses
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import load_surveys
from storage.db import Database
from storage.models import Invitation
from tests.conftest import ROOT, Clock, postgres_admin, postgres_url, run_aside, with_database

DUE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
DEPARTMENT = [f"U0EMPLOYEE{number:02}" for number in range(40)]
LEADS = ["U0LEAD1", "U0LEAD2"]  # the user group S0LEADS
PULSE = PulseSettings.model_validate(
    {
        "name": "weekly",
        "survey": "internal-service",
        "cron": "0 9 * * MON",
        "timezone": "Europe/Berlin",
        "recipients": [{"channel": "slack", "users": DEPARTMENT}, {"channel": "slack", "members_of": "S0LEADS"}],
    }
)
ROUNDS = 20  # each process looks for the due pulse this many times, as its loop would


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database: several processes share it, which only PostgreSQL is for."""
    template = request.getfixturevalue("postgres_template")
    name = f"pulses_{uuid.uuid4().hex[:12]}"
    run_aside(postgres_admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield with_database(postgres_url(), name)
    run_aside(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class Leads:
    """Slack listing the user group's members; or, `stuck`, never answering, after saying so in a file."""

    def __init__(self, stuck: Path | None = None) -> None:
        self.stuck = stuck

    async def group_members(self, group: str) -> Sequence[str]:
        if self.stuck is None:
            return LEADS
        self.stuck.write_text("waiting for Slack\n", encoding="utf-8")
        await asyncio.Event().wait()
        raise AssertionError("never answered")


def pulses_at(database: Database, now: datetime, leads: Leads | None = None) -> Pulses:
    """A process's pulses, its clock stopped at `now`."""
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    clock = Clock(now)
    engine = Engine(
        database=database,
        surveys=load_surveys(ROOT / "surveys"),
        analyzer=analyzer,
        hash_key=b"test-key",
        desk=CaseDesk(),
        clock=clock,
    )
    invitations = Invitations(database, engine, {"slack": True}, clock)
    return Pulses(database, invitations, [PULSE], {"slack": leads or Leads()}, clock)


def sweep_pulses(url: str, log: str, start: Barrier) -> None:
    """A bot process at the pulse's due time: looks for it ROUNDS times, then writes a line to `log` per run."""

    async def run() -> int:
        database = Database(url)
        pulses = pulses_at(database, DUE)
        await database.ping()  # connected before the race starts
        start.wait()
        runs = [await pulses.run_if_due(PULSE) for _ in range(ROUNDS)]
        await database.close()
        return sum(run is not None for run in runs)

    runs = asyncio.run(run())
    with Path(log).open("a", encoding="utf-8") as out:  # one short write: the processes share the file
        out.write("ran\n" * runs)


async def invitations_by_recipient(url: str) -> list[int]:
    database = Database(url)
    async with database.snapshot() as session:
        statement = select(func.count()).select_from(Invitation).group_by(col(Invitation.person_id))
        counts = list(await session.exec(statement))
    await database.close()
    return counts


async def plan(url: str) -> None:
    """The pulse planned by a process that started a minute before its time."""
    database = Database(url)
    await pulses_at(database, DUE - timedelta(minutes=1)).step()
    await database.close()


def test_two_processes_racing_for_a_due_pulse_run_it_once(postgres: str, tmp_path: Path) -> None:
    run_aside(plan(postgres))
    log = tmp_path / "runs.log"
    log.touch()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    processes = [context.Process(target=sweep_pulses, args=(postgres, str(log), start)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0]
    assert log.read_text(encoding="utf-8").split() == ["ran"]
    assert run_aside(invitations_by_recipient(postgres)) == [1] * (len(DEPARTMENT) + len(LEADS))


def run_and_get_stuck(url: str, stuck: str) -> None:
    """A bot process that runs the due pulse and gets stuck in it, waiting for Slack, until it is killed."""

    async def run() -> None:
        database = Database(url)
        await pulses_at(database, DUE, Leads(Path(stuck))).run_if_due(PULSE)

    asyncio.run(run())


async def run_when_the_lease_ended(url: str) -> PulseRun | None:
    database = Database(url)
    try:
        return await pulses_at(database, DUE + LEASE).run_if_due(PULSE)
    finally:
        await database.close()


def test_a_run_whose_process_is_killed_is_finished_by_another_inviting_nobody_twice(
    postgres: str, tmp_path: Path
) -> None:
    run_aside(plan(postgres))
    stuck = tmp_path / "stuck"
    process = multiprocessing.get_context("spawn").Process(target=run_and_get_stuck, args=(postgres, str(stuck)))
    process.start()
    try:
        wait_for(stuck, process)
    finally:
        os.kill(process.pid or 0, signal.SIGKILL)
        process.join(timeout=60)
    assert run_aside(invitations_by_recipient(postgres)) == [1] * len(DEPARTMENT)  # the department, not the leads
    finished = run_aside(run_when_the_lease_ended(postgres))
    assert finished is not None and finished.outcomes == {"already": len(DEPARTMENT), "invited": len(LEADS)}
    assert run_aside(invitations_by_recipient(postgres)) == [1] * (len(DEPARTMENT) + len(LEADS))


def wait_for(stuck: Path, process: multiprocessing.process.BaseProcess) -> None:
    """Until the process says it is stuck (it fails the test by ending instead, or by never getting there)."""
    for _ in range(2400):  # two minutes at most, however slow the machine
        if stuck.exists():
            return
        assert process.is_alive(), "the bot process ended before it got stuck"
        process.join(timeout=0.05)
    raise AssertionError("the bot process never got to the group's members")
