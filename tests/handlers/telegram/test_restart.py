"""A real bot process killed with SIGKILL mid-survey, or stopped with SIGTERM, and restarted: every answer stored
once, no message twice."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlmodel import col, select

from handlers.telegram.channel import SECRET_HEADER
from storage.db import Database
from storage.models import Answer, CaseEvent, Complaint, Conversation, OutboxMessage
from tests.conftest import FEEDBACKBOT, ROOT, free_port
from tests.fakes.telegram_api import GROUP_MEMBER, FakeTelegram
from tests.handlers.telegram.conftest import STAFF_CHAT, WEBHOOK_SECRET, Chat, outbox_settled, wait_until

pytestmark = pytest.mark.every_database  # what a killed process left in the database

CUSTOMERS = (1111, 2222, 3333)
QUESTION = "How satisfied are you with our service?"
FOLLOW_UP = "We're sorry. What went wrong?"
THANKS = "Thank you for your feedback!"


class BotProcess:
    """`feedbackbot run` on the fake Bot API, started and killed at will."""

    def __init__(self, fake: FakeTelegram, database_url: str, workdir: Path) -> None:
        (workdir / "surveys").symlink_to(ROOT / "surveys")
        self.workdir = workdir
        self.fake = fake
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")} | {
            "FEEDBACKBOT_STORAGE__URL": database_url,
            "FEEDBACKBOT_TELEGRAM__TOKEN": fake.token,
            "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
            "FEEDBACKBOT_TELEGRAM__REQUEST_TIMEOUT": "2",
            "FEEDBACKBOT_SERVER__PORT": str(free_port()),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def launch(self) -> None:
        with (self.workdir / f"bot-{self.starts}.log").open("wb") as log:  # the child keeps its own handle
            command = [FEEDBACKBOT, "run"]
            self.process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        self.starts += 1

    async def start(self) -> None:
        """Launches the bot and waits until it polls (or, in webhook mode, registered its webhook)."""
        ready = "setWebhook" if self.env.get("FEEDBACKBOT_TELEGRAM__MODE") == "webhook" else "getUpdates"
        calls = len(self.fake.calls_of(ready))
        self.launch()
        await self.fake.wait_for(lambda: len(self.fake.calls_of(ready)) > calls, timeout=20)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def terminate(self) -> int:
        """Sends SIGTERM and waits for the process to exit (at most 30 s); returns its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, 30)

    def log(self) -> str:
        return (self.workdir / f"bot-{self.starts - 1}.log").read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def bot(fake_telegram: FakeTelegram, database_url: str, tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(fake_telegram, database_url, tmp_path)
    yield process
    process.stop()


def last_text(fake: FakeTelegram, chat_id: int) -> str:
    sent = fake.sent_messages(chat_id)
    return sent[-1] if sent else ""


async def wait_all(fake: FakeTelegram, ending: str) -> None:
    await fake.wait_for(lambda: all(last_text(fake, chat).endswith(ending) for chat in CUSTOMERS), timeout=30)


async def handled(fake: FakeTelegram, database: Database, update_ids: list[int]) -> None:
    for update_id in update_ids:
        await Chat(fake, database).handled(update_id, timeout=30)


async def test_killed_mid_survey_every_answer_is_stored_once_and_no_message_sent_twice(
    bot: BotProcess, fake_telegram: FakeTelegram, database: Database
) -> None:
    """Each kill lands where the bot has changed state but not yet got its reply out.

    Telegram offers no idempotent send: a kill in the instant between Telegram accepting a message and the bot
    recording it would send that message again on restart (at-least-once). The kills here avoid that instant by
    failing sendMessage around them; everywhere else the recorded delivery count prevents a second send.
    """
    await bot.start()
    bot.kill()  # killed before the updates are fetched: Telegram keeps them, no offset confirmed them
    starts = [fake_telegram.push_update(fake_telegram.build.command(chat, "start", "csat")) for chat in CUSTOMERS]
    await bot.start()
    await handled(fake_telegram, database, starts)

    fake_telegram.fail("sendMessage", status=500, times=1000)  # Telegram is down: replies wait in the bot
    presses = []
    for chat in CUSTOMERS:
        question = fake_telegram.last_bot_message(chat)
        presses.append(fake_telegram.push_update(fake_telegram.build.callback_query(question, data_of(question, "2"))))

    def attempted(chat: int) -> bool:
        return any(call.params["chat_id"] == chat for call in fake_telegram.calls_of("sendMessage")[len(CUSTOMERS) :])

    await fake_telegram.wait_for(lambda: all(attempted(chat) for chat in CUSTOMERS), timeout=20)
    bot.kill()  # the answers are stored, the replies not yet sent
    await fake_telegram.recover()  # Telegram is back
    await bot.start()
    await handled(fake_telegram, database, presses)
    await wait_all(fake_telegram, FOLLOW_UP)

    fake_telegram.fail("sendMessage", status=500, times=1000)
    comments = [
        fake_telegram.push_update(fake_telegram.build.text(chat, f"Parcel {chat} arrived crushed"))
        for chat in CUSTOMERS
    ]
    bot.kill()  # at once, wherever the bot is with these updates
    await fake_telegram.recover()
    await bot.start()
    await handled(fake_telegram, database, comments)
    await wait_all(fake_telegram, THANKS)

    for chat in CUSTOMERS:
        texts = Counter(fake_telegram.sent_messages(chat))
        assert [text for text, count in texts.items() if count > 1] == [], f"chat {chat} got a message twice"
    async with database.snapshot() as session:
        answers = list(await session.exec(select(Answer.question_id).order_by(col(Answer.id))))
        statuses = list(await session.exec(select(Conversation.status)))
        complaints = list(await session.exec(select(Complaint.text).order_by(col(Complaint.id))))
    assert Counter(answers) == Counter(["satisfaction", "what_went_wrong"] * len(CUSTOMERS))
    assert statuses == ["completed"] * len(CUSTOMERS)
    assert Counter(complaints) == Counter(f"Parcel {chat} arrived crushed" for chat in CUSTOMERS)


class WebhookBot(BotProcess):
    """The same bot in webhook mode; the test plays Telegram, posting each update until it is answered 200."""

    def __init__(self, fake: FakeTelegram, database_url: str, workdir: Path) -> None:
        super().__init__(fake, database_url, workdir)
        self.env |= {
            "FEEDBACKBOT_TELEGRAM__MODE": "webhook",
            "FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
            "FEEDBACKBOT_SERVER__PUBLIC_URL": "https://bot.example.com",
        }
        self.url = f"http://127.0.0.1:{self.env['FEEDBACKBOT_SERVER__PORT']}/telegram/webhook"

    async def post(self, update: dict[str, Any]) -> int:
        """Delivers like Telegram: again and again until the bot answers 200."""
        update_id = update.setdefault("update_id", next(self.update_ids))
        async with httpx.AsyncClient() as client, asyncio.timeout(30):
            while True:
                try:
                    response = await client.post(self.url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
                    if response.status_code == 200:
                        return int(update_id)
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    update_ids = itertools.count(1)


# The database sees what it sees in polling mode, above, on both: the webhook is what differs.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_killed_in_webhook_mode_every_answer_is_stored_once_and_no_message_sent_twice(
    fake_telegram: FakeTelegram, database_url: str, database: Database, tmp_path: Path
) -> None:
    bot = WebhookBot(fake_telegram, database_url, tmp_path)
    try:
        await bot.start()
        starts = [await bot.post(fake_telegram.build.command(chat, "start", "csat")) for chat in CUSTOMERS]
        await handled(fake_telegram, database, starts)

        fake_telegram.fail("sendMessage", status=500, times=1000)  # replies wait in the bot
        presses = []
        for chat in CUSTOMERS:
            question = fake_telegram.last_bot_message(chat)
            presses.append(await bot.post(fake_telegram.build.callback_query(question, data_of(question, "1"))))
        bot.kill()  # answered 200, so stored: Telegram will not deliver these again
        await fake_telegram.recover()
        await bot.start()
        await handled(fake_telegram, database, presses)
        await wait_all(fake_telegram, FOLLOW_UP)

        comments = [await bot.post(fake_telegram.build.text(chat, "Never again")) for chat in CUSTOMERS]
        await handled(fake_telegram, database, comments)
        await wait_all(fake_telegram, THANKS)
    finally:
        bot.stop()
    for chat in CUSTOMERS:
        texts = Counter(fake_telegram.sent_messages(chat))
        assert [text for text, count in texts.items() if count > 1] == [], f"chat {chat} got a message twice"
    async with database.snapshot() as session:
        answers = list(await session.exec(select(Answer.question_id)))
    assert Counter(answers) == Counter(["satisfaction", "what_went_wrong"] * len(CUSTOMERS))


def data_of(question: dict[str, object], label: str) -> str:
    """The callback data of the button labelled `label`."""
    markup = question["reply_markup"]
    assert isinstance(markup, dict)
    for row in markup["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    raise AssertionError(f"no button {label}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # its row locks hold the moment of the kill
async def test_killed_right_after_a_staff_message_is_handled_the_customer_gets_it_once(
    bot: BotProcess, fake_telegram: FakeTelegram, database: Database, database_url: str
) -> None:
    """The kill lands after the staff reply's step is committed and before its update is marked handled, so the
    restarted bot handles the update again: the step must find its event recorded and do nothing."""
    bot.env["FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID"] = str(STAFF_CHAT)
    await bot.start()
    customer = CUSTOMERS[0]
    fake_telegram.push_update(fake_telegram.build.command(customer, "complain", "The app deleted my order"))
    [alert] = await fake_telegram.wait_for(lambda: fake_telegram.chat_messages(STAFF_CHAT), timeout=20)
    fake_telegram.push_update(fake_telegram.build.callback_query(alert, "k1|contact|1", user_id=GROUP_MEMBER))
    [prompt] = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "to the customer" in m.get("text", "")],
        timeout=20,
    )
    fake_telegram.fail("sendMessage", status=500, times=1000)  # the message to the customer waits in the outbox
    reply = fake_telegram.build.message(
        STAFF_CHAT, user_id=GROUP_MEMBER, text="Which order number was it?", reply_to_message=prompt
    )
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")
    case_lock, mark_lock = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        async with case_lock.transaction():
            await case_lock.execute("SELECT id FROM complaint WHERE id = 1 FOR UPDATE")  # the step waits for this
            update_id = fake_telegram.push_update({"message": reply})
            await mark_lock.execute("BEGIN")
            stored = "SELECT 1 FROM inboxupdate WHERE channel = 'telegram' AND update_id = $1 FOR UPDATE"
            await wait_until(lambda: mark_lock.fetchval(stored, update_id), timeout=20)  # its handled mark waits
        await wait_until(lambda: contacted(database), timeout=20)  # the step went ahead once the case was free
        bot.kill()
    finally:
        await case_lock.close()
        await mark_lock.close()  # rolls back
    await fake_telegram.recover()
    await bot.start()
    await Chat(fake_telegram, database).handled(update_id, timeout=30)
    await outbox_settled(database)
    assert len([text for text in fake_telegram.sent_messages(customer) if "Which order number was it?" in text]) == 1
    async with database.snapshot() as session:
        assert list(await session.exec(select(CaseEvent.action).order_by(col(CaseEvent.id)))) == [
            "opened",
            "contacted",
        ]


async def contacted(database: Database) -> bool:
    async with database.snapshot() as session:
        return (await session.exec(select(CaseEvent).where(CaseEvent.action == "contacted"))).first() is not None


# The stop is the process's: its writes are those the tests above make on both databases.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sigterm_during_a_load_of_webhook_updates_exits_0_and_loses_none_of_those_answered_200(
    fake_telegram: FakeTelegram, database_url: str, database: Database, tmp_path: Path
) -> None:
    bot = WebhookBot(fake_telegram, database_url, tmp_path)
    customers = range(5001, 5021)
    try:
        await bot.start()
        # The first replies fail: their handling is in flight, retrying, when the stop comes.
        fake_telegram.fail("sendMessage", status=500, times=len(customers))
        posts = [
            asyncio.create_task(bot.post(fake_telegram.build.command(chat, "start", "csat"))) for chat in customers
        ]
        await fake_telegram.wait_for(lambda: fake_telegram.calls_of("sendMessage") or None, timeout=20)
        assert await bot.terminate() == 0
        answered = [post.result() for post in posts if post.done()]  # these Telegram will not deliver again
        await fake_telegram.recover()
        await bot.start()
        update_ids = await asyncio.gather(*posts)  # the rest, refused while stopping, reach the restarted bot
        await handled(fake_telegram, database, update_ids)
        await fake_telegram.wait_for(
            lambda: all(fake_telegram.sent_messages(chat) for chat in customers) or None, timeout=30
        )
    finally:
        bot.stop()
    assert answered, "no update was answered before the stop"
    for chat in customers:
        [first_question] = fake_telegram.sent_messages(chat)  # once, not twice
        assert QUESTION in first_question


async def test_sigterm_releases_the_outbox_messages_it_was_sending_and_the_next_process_sends_them_at_once(
    bot: BotProcess, fake_telegram: FakeTelegram, database: Database
) -> None:
    bot.env |= {
        "FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID": str(STAFF_CHAT),
        "FEEDBACKBOT_TELEGRAM__REQUEST_TIMEOUT": "60",  # the staff alert's send is still in flight at the stop
    }
    await bot.start()
    fake_telegram.delay("sendMessage", 5, times=2)  # the customer's reply and the staff alert
    fake_telegram.push_update(fake_telegram.build.command(CUSTOMERS[0], "complain", "The app deleted my order"))
    await fake_telegram.wait_for(
        lambda: (
            [call for call in fake_telegram.calls_of("sendMessage") if call.params["chat_id"] == STAFF_CHAT] or None
        ),
        timeout=20,
    )
    assert await bot.terminate() == 0
    async with database.snapshot() as session:
        leases = list(await session.exec(select(OutboxMessage.claimed_by, OutboxMessage.claimed_until)))
    assert leases == [(None, None)]
    await bot.start()
    await outbox_settled(database)  # well within the 60 s lease the stopped process had taken


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_second_sigterm_while_stopping_exits_at_once(
    bot: BotProcess, fake_telegram: FakeTelegram, database: Database
) -> None:
    bot.env |= {"FEEDBACKBOT_TELEGRAM__REQUEST_TIMEOUT": "60", "FEEDBACKBOT_SERVER__SHUTDOWN_SECONDS": "600"}
    await bot.start()
    fake_telegram.delay("sendMessage", 600)  # the reply's handling would hold the stop for the whole bound
    update_id = fake_telegram.push_update(fake_telegram.build.command(CUSTOMERS[0], "start", "csat"))
    await fake_telegram.wait_for(lambda: fake_telegram.calls_of("sendMessage") or None, timeout=20)
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    await wait_until(lambda: asyncio.sleep(0, "stopping: signal" in bot.log()), timeout=20)
    assert await bot.terminate() == 1  # not a graceful stop
    assert "stopping now (a second signal) with work unfinished" in bot.log()
    bot.env["FEEDBACKBOT_SERVER__SHUTDOWN_SECONDS"] = "10"
    await bot.start()
    await Chat(fake_telegram, database).handled(update_id, timeout=30)
