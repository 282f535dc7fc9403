"""A 2,000-recipient campaign against the fake Bot API, which answers 429 past its flood limit: every recipient gets
the survey's first question once, no call is refused, and nobody's words reach the log at INFO."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bot.app import Core
from bot.campaigns import CampaignPlan, Campaigns, Recipient, campaign_funnel
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.invitations import ToPlatformUser
from bot.outbox import Dispatcher
from bot.surveys import Survey
from handlers.registry import settings_model
from handlers.telegram.channel import TelegramChannel
from handlers.telegram.settings import TelegramSettings
from storage import queries
from storage.db import Database
from storage.types import utcnow
from tests.conftest import coverage_paused
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import wait_until

RECIPIENTS = 2000
FIRST_CHAT = 500_000
# The platform's limit, told to the bot as Telegram's is (max_messages_per_second) and enforced by the fake; above
# Telegram's 30 messages/s so that the test takes half a minute. The dispatcher can send faster than the limit
# here (sent unpaced, at --rate 1000, the campaign draws 429s), so the campaign's pace is what keeps it under.
LIMIT = 80
RATE = 70  # the campaign's, below the limit: the replies to people answering keep their room
TRACED = 100  # recipients sent to while coverage traces: the rest run the same lines at twice the CPU under it
NPS_QUESTION = "How likely are you to recommend us to a friend or colleague?"
CUSTOMER_WORDS = "my landlord Mrs Pemberton at 12 Elm Street"


@pytest.fixture
async def telegram(
    fake_telegram: FakeTelegram, database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk
) -> AsyncIterator[TelegramChannel]:
    section = {
        "token": fake_telegram.token,
        "api_base_url": fake_telegram.base_url,
        "request_timeout": 5,
        "max_messages_per_second": LIMIT,
    }
    settings = settings_model().model_validate({"telegram": section})
    core = Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk))
    channel = TelegramChannel(core, TelegramSettings.model_validate(section))
    await channel.start()
    yield channel
    await channel.stop()


async def people_who_started_the_bot(database: Database, chats: range) -> None:
    async with database.transaction() as session:
        for chat in chats:
            await queries.get_or_create_person(session, channel="telegram", platform_id=str(chat), language="en")


def recipients(chats: range) -> list[Recipient]:
    return [
        Recipient(
            line, f"telegram:{chat}", ToPlatformUser("telegram", str(chat)), f"ORDER{chat}", {"note": CUSTOMER_WORDS}
        )
        for line, chat in enumerate(chats, start=2)
    ]


@pytest.mark.slow
async def test_a_campaign_reaches_each_recipient_once_under_the_platforms_limit_and_logs_no_customer_words(
    telegram: TelegramChannel, fake_telegram: FakeTelegram, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    flood = fake_telegram.flood_limit(calls=LIMIT, per_seconds=1, retry_after=1)
    chats = range(FIRST_CHAT, FIRST_CHAT + RECIPIENTS)
    await people_who_started_the_bot(database, chats)
    dispatcher = Dispatcher(database, {"telegram": telegram.send}, clock=utcnow)
    sending = asyncio.create_task(dispatcher.run_forever(interval=0.05))
    campaigns = Campaigns(database, telegram.invitations, default_rate=RATE, clock=utcnow)
    plan = CampaignPlan("spring", "nps", None, "customers.csv", "ops")
    writing = asyncio.create_task(campaigns.run(plan, recipients(chats)))

    async def all_settled() -> bool:
        shown = await campaign_funnel(database, "spring")
        return shown is not None and shown[1].waiting == 0

    try:
        await fake_telegram.wait_for(lambda: len(fake_telegram.calls_of("sendMessage")) >= TRACED, timeout=60)
        with coverage_paused():  # the next recipients take the same paths as the first
            summary = await writing
            await fake_telegram.wait_for(lambda: len(fake_telegram.calls_of("sendMessage")) >= RECIPIENTS, timeout=300)
        await wait_until(all_settled)
    finally:
        sending.cancel()
        writing.cancel()
    assert summary.invited == RECIPIENTS
    assert flood.bans == 0  # no 429
    received = fake_telegram.sent_messages_by_chat(chats)
    assert {chat: texts for chat, texts in received.items() if len(texts) != 1} == {}
    assert all(NPS_QUESTION in texts[0] for texts in received.values())
    shown = await campaign_funnel(database, "spring")
    assert shown is not None and shown[1].delivered == RECIPIENTS
    logged = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert [line for line in logged if "Pemberton" in line or "ORDER5" in line] == []
