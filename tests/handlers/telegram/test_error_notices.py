"""A handler that fails is told to the staff chat: once per error and place in ten minutes, without personal data."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy.exc import OperationalError

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import InboxUpdate
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, outbox_settled, wait_until

SECRET_WORDS = "my card number is 4242"


def break_the_engine(channel: TelegramChannel) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError(f"customer {CUSTOMER} wrote: {SECRET_WORDS}")

    channel.services.engine.handle = broken  # type: ignore[assignment,method-assign]


async def start_fails(fake: FakeTelegram, database: Database) -> None:
    """The customer sends /start and the handler fails (the update is kept for a retry)."""
    update_id = fake.push_update(fake.build.command(CUSTOMER, "start", "csat"))

    async def attempted() -> bool:
        async with database.snapshot() as session:
            row = await session.get(InboxUpdate, ("telegram", update_id))
        return row is not None and row.attempts > 0

    await wait_until(attempted, timeout=5)
    await outbox_settled(database)


async def test_a_failed_handler_is_told_to_the_staff_chat_without_personal_data(
    polling: TelegramChannel, fake_telegram: FakeTelegram, database: Database
) -> None:
    break_the_engine(polling)
    await start_fails(fake_telegram, database)
    [notice] = await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT))
    assert re.match(r"A telegram handler failed: RuntimeError at common\.py:\d+ in respond, .* a message\.", notice)
    assert str(CUSTOMER) not in notice and SECRET_WORDS not in notice


async def test_the_same_failure_is_told_again_after_ten_minutes_with_the_count_held_back(
    polling: TelegramChannel, fake_telegram: FakeTelegram, database: Database, clock: Clock
) -> None:
    break_the_engine(polling)
    for _ in range(3):
        await start_fails(fake_telegram, database)
    assert len(fake_telegram.sent_messages(STAFF_CHAT)) == 1
    clock.advance(minutes=10)
    await start_fails(fake_telegram, database)
    notices = await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT)[1:])
    assert notices[0].startswith("A telegram handler failed: RuntimeError at common.py:")
    assert notices[0].endswith("And 2 more like it since.")


async def test_a_failed_handler_is_logged_under_its_update_without_personal_data_above_debug(
    polling: TelegramChannel,
    fake_telegram: FakeTelegram,
    database: Database,
    caplog: pytest.LogCaptureFixture,
    correlated_records: None,
) -> None:
    break_the_engine(polling)
    caplog.set_level(logging.DEBUG, logger="handlers.telegram")
    await start_fails(fake_telegram, database)
    [failed] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    line = re.fullmatch(r"telegram update (\d+) failed: RuntimeError at common\.py:\d+ in respond", failed.getMessage())
    assert line is not None and getattr(failed, "correlation_id", None) == f"telegram-{line[1]}"
    above_debug = "\n".join(
        caplog.handler.format(record) for record in caplog.records if record.levelno > logging.DEBUG
    )
    assert above_debug and SECRET_WORDS not in above_debug and str(CUSTOMER) not in above_debug
    [traceback] = [record for record in caplog.records if record.exc_info]
    assert traceback.levelno == logging.DEBUG  # for whoever debugs, with the words


async def test_a_handler_failing_on_a_database_outage_logs_one_line_without_a_traceback(
    polling: TelegramChannel, fake_telegram: FakeTelegram, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def unreachable(event: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    polling.services.engine.handle = unreachable  # type: ignore[assignment,method-assign]
    with caplog.at_level(logging.WARNING, logger="handlers.telegram"):
        await start_fails(fake_telegram, database)
    [line] = [record for record in caplog.records if record.name == "handlers.telegram"]
    assert line.getMessage().endswith("failed: the database is unreachable (OperationalError)")
    assert line.exc_info is None
