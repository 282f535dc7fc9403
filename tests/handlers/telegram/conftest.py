"""A Telegram channel on the real python-telegram-bot stack, talking to the loopback fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.app import Core
from bot.cases import CaseDesk, Cases, StaffDestination
from bot.config import Settings
from bot.engine import Engine
from bot.outbox import Dispatcher
from bot.surveys import Survey
from handlers.telegram.channel import TelegramChannel
from handlers.telegram.settings import TelegramSettings
from storage.db import Database
from storage.models import InboxUpdate, OutboxMessage, OutboxStatus
from tests.conftest import FEEDBACKBOT, ROOT, free_port
from tests.fakes.telegram_api import FakeTelegram

CUSTOMER = 714862471
STAFF_CHAT = -1001234567890
WEBHOOK_SECRET = "s3cret-token"


def channel_settings(fake: FakeTelegram, **telegram: Any) -> TelegramSettings:
    return TelegramSettings.model_validate(
        {
            "token": fake.token,
            "api_base_url": fake.base_url,
            "staff_chat_id": STAFF_CHAT,
            "request_timeout": 1,
            "max_messages_per_second": 1000,
            **telegram,
        }
    )


MakeChannel = Callable[..., Awaitable[TelegramChannel]]


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Telegram staff chat."""
    return CaseDesk(destinations={"telegram": StaffDestination(str(STAFF_CHAT))})


@pytest.fixture
async def make_channel(
    fake_telegram: FakeTelegram, database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk
) -> AsyncIterator[MakeChannel]:
    """Starts a channel (polling unless told otherwise); stopped at teardown."""
    started: list[tuple[TelegramChannel, asyncio.Task[None]]] = []

    async def make(**telegram: Any) -> TelegramChannel:
        settings = Settings(server={"public_url": "https://bot.example.com"})
        cases = Cases(database, desk, engine.clock)
        core = Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=cases)
        channel = TelegramChannel(core, channel_settings(fake_telegram, **telegram))
        channel.inbox.flush_seconds = 0.01  # tests wait for the handled mark
        await channel.start()
        dispatcher = Dispatcher(database, {"telegram": channel.send}, clock=engine.clock)
        started.append((channel, asyncio.create_task(dispatcher.run_forever(interval=0.02))))
        return channel

    yield make
    for channel, dispatcher in started:
        dispatcher.cancel()
        await channel.stop()


@pytest.fixture
async def polling(make_channel: MakeChannel) -> TelegramChannel:
    return await make_channel()


class Chat:
    """A customer's private chat with the bot: pushes updates and waits until the bot handled each."""

    def __init__(self, fake: FakeTelegram, database: Database, chat_id: int = CUSTOMER) -> None:
        self.fake = fake
        self.database = database
        self.chat_id = chat_id

    async def push(self, update: dict[str, Any]) -> int:
        update_id = self.fake.push_update(update)
        await self.handled(update_id)
        return update_id

    async def handled(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        async def is_handled() -> bool:
            async with self.database.snapshot() as session:
                row = await session.get(InboxUpdate, ("telegram", update_id))
                return row is not None and row.handled_at is not None

        await wait_until(is_handled, timeout)

    async def say(self, text: str) -> int:
        return await self.push(self.fake.build.text(self.chat_id, text))

    async def command(self, name: str, args: str = "") -> int:
        return await self.push(self.fake.build.command(self.chat_id, name, args))

    async def press(self, data: str, message: dict[str, Any] | None = None) -> int:
        shown = message or self.fake.last_bot_message(self.chat_id)
        return await self.push(self.fake.build.callback_query(shown, data))

    def last(self) -> dict[str, Any]:
        return self.fake.last_bot_message(self.chat_id)

    def texts(self) -> list[str]:
        return [
            call.params["text"] for call in self.fake.calls_of("sendMessage") if call.params["chat_id"] == self.chat_id
        ]


RATE_QUESTION = "How satisfied are you with our service?"  # the shipped csat survey's first question


async def start_surveys(fake: FakeTelegram, chat_ids: range) -> None:
    """Each customer sends `/start csat` at once; returns when every one of them was asked the first question."""
    for chat_id in chat_ids:
        fake.push_update(fake.build.command(chat_id, "start", "csat"))

    async def asked(chat_id: int) -> None:
        await fake.wait_for(lambda: any(RATE_QUESTION in text for text in fake.sent_messages(chat_id)), timeout=30)

    await asyncio.gather(*(asked(chat_id) for chat_id in chat_ids))


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110  (the database has no event to wait on)
            await asyncio.sleep(0.02)


@pytest.fixture
def chat(fake_telegram: FakeTelegram, database: Database) -> Chat:
    return Chat(fake_telegram, database)


def buttons(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [[(button["text"], button["callback_data"]) for button in row] for row in markup["inline_keyboard"]]


async def inbox_rows(database: Database) -> list[InboxUpdate]:
    async with database.snapshot() as session:
        return list(await session.exec(select(InboxUpdate)))


async def staff_alert(fake: FakeTelegram) -> dict[str, Any]:
    """The first message in the staff chat: a case's alert."""
    await fake.wait_for(lambda: fake.sent_messages(STAFF_CHAT))
    return fake.chat_messages(STAFF_CHAT)[0]


async def outbox_settled(database: Database) -> None:
    """Waits until the dispatcher has sent every queued message."""

    async def settled() -> bool:
        async with database.snapshot() as session:
            pending = await session.exec(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING))
            return pending.first() is None

    await wait_until(settled)


def bot_environment(fake: FakeTelegram, **settings: str) -> dict[str, str]:
    """The environment of a `feedbackbot run` on the fake: none of the developer's FEEDBACKBOT_ variables, the fake's
    token and address, a free port, and `settings` (FEEDBACKBOT_ variables)."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    return kept | {
        "FEEDBACKBOT_TELEGRAM__TOKEN": fake.token,
        "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
        "FEEDBACKBOT_SERVER__PORT": str(free_port()),
        **settings,
    }


@contextlib.contextmanager
def running_bot(
    workdir: Path, sqlite_template: Path, env: dict[str, str], stop_with: signal.Signals = signal.SIGTERM
) -> Iterator[Path]:
    """`feedbackbot run` in `workdir` on a fresh SQLite database and the shipped surveys, stopped with `stop_with`
    on leaving (killed if it has not exited 30 s later); yields the file its output goes to."""
    shutil.copy(sqlite_template, workdir / "feedback.db")
    (workdir / "surveys").symlink_to(ROOT / "surveys")
    log = workdir / "bot.log"
    with log.open("wb") as output:  # the child keeps its own handle
        bot = subprocess.Popen([FEEDBACKBOT, "run"], cwd=workdir, env=env, stdout=output, stderr=output)
    try:
        yield log
    finally:
        bot.send_signal(stop_with)
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()
