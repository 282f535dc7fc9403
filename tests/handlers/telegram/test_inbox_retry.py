"""The inbox's retry of unhandled updates never hands over one that is being handled or already handled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, Update

from handlers.telegram.inbox import Inbox
from storage.db import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER

pytestmark = pytest.mark.every_database  # races between the inbox's reads and writes


class HeldReads(Database):
    """A database whose reads, once done, wait for the test to let them go on: the moment a race needs."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.read = asyncio.Event()
        self.go_on = asyncio.Event()
        self.go_on.set()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        async with super().snapshot() as session:
            yield session
        self.read.set()
        await self.go_on.wait()


class Handler:
    """Counts the updates handed over; the first handling waits until `release` is set."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.release = asyncio.Event()
        self.done = asyncio.Event()

    async def __call__(self, update: Update) -> bool:
        self.handled.append(update.update_id)
        await self.release.wait()
        self.done.set()
        return True


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[HeldReads]:
    held = HeldReads(database_url)
    yield held
    await held.close()


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def inbox(database: HeldReads, handler: Handler, fake_telegram: FakeTelegram) -> Inbox:
    """An inbox holding one stored update, handed over once."""
    inbox = Inbox(database, Bot(fake_telegram.token), handler)
    built = {"update_id": 1, **fake_telegram.build.command(CUSTOMER, "help")}
    update = Update.de_json(built, inbox.bot)
    assert update is not None
    for new in await inbox.store([update]):
        inbox.submit(new)
    return inbox


async def test_an_update_handled_but_not_yet_marked_is_not_handed_over_again(inbox: Inbox, handler: Handler) -> None:
    handler.release.set()
    await handler.done.wait()
    await inbox.resubmit_unhandled()  # the 30 s retry, before the handled mark is written
    await inbox.drain()
    assert handler.handled == [1]


async def test_an_update_whose_handling_ends_while_the_retry_reads_is_not_handed_over_again(
    inbox: Inbox, handler: Handler, database: HeldReads
) -> None:
    database.go_on.clear()
    retry = asyncio.create_task(inbox.resubmit_unhandled())
    await database.read.wait()  # the retry read the update as unhandled: it was still being handled
    handler.release.set()
    await handler.done.wait()
    database.go_on.set()
    await retry
    await inbox.drain()
    assert handler.handled == [1]


async def test_an_update_whose_handled_mark_is_written_while_the_retry_reads_is_not_handed_over_again(
    inbox: Inbox, handler: Handler, database: HeldReads
) -> None:
    handler.release.set()
    await handler.done.wait()
    database.go_on.clear()
    retry = asyncio.create_task(inbox.resubmit_unhandled())
    await database.read.wait()  # the retry read the update as unhandled: its mark was not written yet
    flush = asyncio.create_task(inbox.flush_handled())
    await asyncio.sleep(0)  # the mark is being written
    database.go_on.set()
    await retry
    await flush
    await inbox.drain()
    assert handler.handled == [1]


class GoesDown(Database):
    """A database that refuses every write once `down` is set."""

    down = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        if self.down:
            raise OperationalError("BEGIN", {}, ConnectionRefusedError("the database is down"))
        async with super().transaction() as session:
            yield session


async def test_an_update_that_fails_while_the_database_is_down_stays_for_the_retry(
    database_url: str, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    database = GoesDown(database_url)

    async def failing(update: Update) -> bool:
        database.down = True  # the outage that made the handling fail also keeps its attempt from being counted
        return False

    inbox = Inbox(database, Bot(fake_telegram.token, base_url=fake_telegram.base_url), failing)
    update = Update.de_json({"update_id": 7, **fake_telegram.build.command(CUSTOMER, "start")}, inbox.bot)
    assert update is not None
    try:
        [stored] = await inbox.store([update])
        inbox.submit(stored)
        await inbox.drain()
        assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == [
            "telegram update 7 failed and the database is unreachable (OperationalError)"
        ]
        database.down = False
        assert await inbox.resubmit_unhandled() == 1  # still there, unhandled, for the retry loop
    finally:
        await inbox.drain()
        await database.close()
