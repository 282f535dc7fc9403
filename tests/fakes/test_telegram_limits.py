"""Tests of the fake Bot API's slow answers and overall flood limit, driven by the real python-telegram-bot client."""

import asyncio

import pytest
from telegram import Bot
from telegram.error import RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import IN_FLIGHT, FakeTelegram


def bot_for(fake: FakeTelegram, read_timeout: float = 5.0) -> Bot:
    return Bot(fake.token, base_url=fake.base_url, request=HTTPXRequest(read_timeout=read_timeout))


async def test_a_slow_answer_comes_after_the_message_took_effect(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram, read_timeout=0.1) as bot:
        fake_telegram.slow_down(answer_after=0.5, for_seconds=10)
        with pytest.raises(TimedOut):
            await bot.send_message(42, "slow")
        assert fake_telegram.sent_messages(42) == ["slow"]  # before any answer came back


async def test_calls_over_the_flood_limit_are_banned_and_early_ones_counted(fake_telegram: FakeTelegram) -> None:
    flood = fake_telegram.flood_limit(calls=2, per_seconds=10, retry_after=1)
    async with bot_for(fake_telegram) as bot:
        await bot.send_message(42, "one")
        await bot.send_message(43, "two")
        with pytest.raises(RetryAfter):
            await bot.send_message(44, "three")  # starts the ban
        await asyncio.sleep(IN_FLIGHT)
        with pytest.raises(RetryAfter):
            await bot.send_message(45, "four")  # the bot knew: early
        await asyncio.sleep(1 - IN_FLIGHT)
        with pytest.raises(RetryAfter):
            await bot.send_message(46, "five")  # the ban is over, but two calls in ten seconds is the limit
    assert [method for method, _ in flood.early] == ["sendMessage"]
    assert flood.bans == 2
    assert [text for chat in range(42, 47) for text in fake_telegram.sent_messages(chat)] == ["one", "two"]
