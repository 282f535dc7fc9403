"""Telegram slow or flooded: a send that timed out after it went out is not repeated; a 429 holds the whole bot."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from handlers.telegram.channel import TelegramChannel
from handlers.telegram.delivery import Sender
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, MakeChannel

RATE_QUESTION = "How satisfied are you with our service?"
COMMENT_QUESTION = "Anything we could do better?"
THANK_YOU = "Thank you for your feedback!"
NO_PREVIEW = {"is_disabled": True}


def bot_message(fake: FakeTelegram, chat_id: int, fragment: str) -> dict[str, Any] | None:
    """The bot's latest message in the chat whose text contains `fragment`, if any yet."""
    found = [m for m in fake.chat_messages(chat_id) if m["from"]["id"] == fake.bot["id"] and fragment in m["text"]]
    return found[-1] if found else None


async def rate_four(fake: FakeTelegram, chat_id: int) -> None:
    """Starts the csat survey and presses 4 once the question has arrived; returns when the next one has."""
    fake.push_update(fake.build.command(chat_id, "start", "csat"))
    question = await fake.wait_for(lambda: bot_message(fake, chat_id, RATE_QUESTION), timeout=30)
    [four] = [
        button["callback_data"]
        for row in question["reply_markup"]["inline_keyboard"]
        for button in row
        if button["text"] == "4"
    ]
    fake.push_update(fake.build.callback_query(question, four))
    await fake.wait_for(lambda: bot_message(fake, chat_id, COMMENT_QUESTION), timeout=30)


async def take_survey(fake: FakeTelegram, chat_id: int) -> None:
    """The whole csat survey as a customer takes it: each answer once the bot's question has arrived."""
    await rate_four(fake, chat_id)
    fake.push_update(fake.build.text(chat_id, "Fine."))
    await fake.wait_for(lambda: THANK_YOU in fake.sent_messages(chat_id), timeout=30)


async def test_answers_slower_than_the_timeout_show_no_message_more_than_twice(
    make_channel: MakeChannel, fake_telegram: FakeTelegram
) -> None:
    await make_channel(request_timeout=0.5)
    await fake_telegram.wait_for(lambda: fake_telegram.calls_of("getUpdates"))  # the bot is up and polling
    fake_telegram.slow_down(answer_after=0.8, for_seconds=3)  # every message arrives; its answer comes too late
    customers = range(2001, 2031)
    await asyncio.gather(*(take_survey(fake_telegram, chat_id) for chat_id in customers))
    for chat_id in customers:
        received = Counter(fake_telegram.sent_messages(chat_id))
        assert {text: times for text, times in received.items() if times > 2} == {}
        assert [
            text
            for text in (RATE_QUESTION, COMMENT_QUESTION, THANK_YOU)
            if not bot_message(fake_telegram, chat_id, text)
        ] == []


async def test_a_send_that_never_left_the_bot_is_retried(fake_telegram: FakeTelegram) -> None:
    one_connection = HTTPXRequest(connection_pool_size=1, pool_timeout=0.2)
    async with Bot(fake_telegram.token, base_url=fake_telegram.base_url, request=one_connection) as bot:
        fake_telegram.delay("getChat", 1)
        busy = asyncio.create_task(bot.get_chat(CUSTOMER))  # holds the only connection for a second
        await fake_telegram.wait_for(lambda: fake_telegram.calls_of("getChat"))
        await Sender(bot).send(CUSTOMER, "Hello")  # times out waiting for a connection: never sent
        await busy
    assert fake_telegram.sent_messages(CUSTOMER) == ["Hello"]


async def test_a_429_holds_every_send_of_the_bot_until_the_ban_is_over(
    make_channel: MakeChannel, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await make_channel()
    flood = fake_telegram.flood_limit(calls=20, per_seconds=1, retry_after=1)
    fake_telegram.slow_down(answer_after=0.7, for_seconds=60)  # answers take a while, as Telegram's do

    async def customer(number: int) -> None:
        await asyncio.sleep(number * 0.1)  # new customers keep coming, bans or not
        await rate_four(fake_telegram, 3000 + number)

    await asyncio.gather(*(customer(number) for number in range(20)))
    assert flood.bans > 0
    assert flood.early == []  # no call came inside a ban once the bot could have known of it
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []
    assert any("telegram flood limit" in record.getMessage() for record in caplog.records)


async def test_no_message_of_the_bot_shows_a_link_preview(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    await chat.command("start", "csat")
    await chat.press("a1|1|satisfaction|1")
    await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT))
    await chat.say("It failed, see https://evil.example/login")

    def staff_edits() -> list[object]:
        return [call for call in fake_telegram.calls_of("editMessageText") if call.params["chat_id"] == STAFF_CHAT]

    await fake_telegram.wait_for(staff_edits)
    calls = fake_telegram.calls_of("sendMessage") + fake_telegram.calls_of("editMessageText")
    assert {call.params["chat_id"] for call in calls} == {CUSTOMER, STAFF_CHAT}
    assert [call.params.get("link_preview_options") for call in calls] == [NO_PREVIEW] * len(calls)


async def test_the_pace_in_one_chat_follows_the_setting(make_channel: MakeChannel, fake_telegram: FakeTelegram) -> None:
    channel = await make_channel(per_chat_interval=2)
    clock = asyncio.get_running_loop().time
    started = clock()
    for number in range(4):
        await channel.services.sender.send(CUSTOMER, f"message {number}")
    # A burst of three, then the fourth at the configured pace: it cannot have gone out sooner than 2 s after the
    # first was asked for, however slow the machine (the fake's arrival times would carry its delays).
    assert clock() - started >= 2 * 0.9
    assert len(fake_telegram.calls_of("sendMessage")) == 4
