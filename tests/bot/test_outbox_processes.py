"""The outbox shared by real processes on PostgreSQL: each message sent exactly once, even when one is killed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.outbound import CaseAlert, OutboundMessage, SendResult, Sent
from bot.outbox import Dispatcher, enqueue
from storage.db import Database
from storage.models import OutboxMessage
from storage.types import utcnow
from tests.conftest import postgres_admin, postgres_url, run_aside, with_database

MESSAGES = 60
LEASE = timedelta(seconds=2)


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database: several processes share it, which only PostgreSQL is for."""
    template = request.getfixturevalue("postgres_template")
    name = f"processes_{uuid.uuid4().hex[:12]}"
    run_aside(postgres_admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield with_database(postgres_url(), name)
    run_aside(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def dispatch(url: str, log: str, hang: bool) -> None:
    """A dispatcher process: sends until the outbox is empty, writing each send to `log` (or hangs in its first)."""

    async def send(message: OutboundMessage) -> SendResult:
        if hang:
            await asyncio.sleep(3600)  # a send that never comes back: the process is killed in it
        assert isinstance(message, CaseAlert)
        record_send(log, message.case_id)
        return Sent()

    async def run() -> None:
        database = Database(url)
        dispatcher = Dispatcher(database, {"slack": send}, lease=LEASE)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 3:  # until nothing has been due for a while
            if await dispatcher.run_once():
                idle_since = time.monotonic()
            else:
                await asyncio.sleep(0.05)
        await database.close()

    asyncio.run(run())


def record_send(log: str, case: int) -> None:
    with Path(log).open("a", encoding="utf-8") as out:  # one short line, appended: the processes share the file
        out.write(f"{case}\n")


async def fill_outbox(url: str) -> None:
    database = Database(url)
    async with database.transaction() as session:
        for number in range(MESSAGES):
            enqueue(session, channel="slack", message=CaseAlert(case_id=number, target="CSTAFF"), now=utcnow())
    await database.close()


async def claimed(url: str) -> int:
    database = Database(url)
    async with database.snapshot() as session:
        count = (
            await session.exec(
                select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.claimed_by).is_not(None))
            )
        ).one()
    await database.close()
    return int(count)


def sent_per_message(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text(encoding="utf-8").split())


def start(url: str, log: Path, hang: bool = False) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(target=dispatch, args=(url, str(log), hang))
    process.start()
    return process


async def test_two_dispatcher_processes_send_each_message_exactly_once(postgres: str, tmp_path: Path) -> None:
    await fill_outbox(postgres)
    log = tmp_path / "sent.log"
    log.touch()
    first, second = start(postgres, log), start(postgres, log)
    for process in (first, second):
        await asyncio.to_thread(process.join, 60)
        assert process.exitcode == 0
    assert sent_per_message(log) == Counter(range(MESSAGES))


async def test_a_dispatcher_killed_mid_send_leaves_its_messages_to_another_exactly_once(
    postgres: str, tmp_path: Path
) -> None:
    await fill_outbox(postgres)
    log = tmp_path / "sent.log"
    log.touch()
    doomed = start(postgres, log, hang=True)
    deadline = time.monotonic() + 30
    while await claimed(postgres) == 0:
        assert time.monotonic() < deadline, "the first dispatcher never claimed anything"
        await asyncio.sleep(0.05)
    os.kill(doomed.pid or 0, signal.SIGKILL)
    await asyncio.to_thread(doomed.join, 10)
    survivor = start(postgres, log)
    await asyncio.to_thread(survivor.join, 60)
    assert survivor.exitcode == 0
    assert sent_per_message(log) == Counter(range(MESSAGES))
