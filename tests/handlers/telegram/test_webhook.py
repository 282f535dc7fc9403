"""Webhook mode: updates arrive at POST /telegram/webhook, guarded by the secret token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from handlers.telegram import TelegramChannel
from handlers.web import create_app
from storage.db import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, WEBHOOK_SECRET, Chat, MakeChannel, inbox_rows

URL = "/telegram/webhook"


@pytest.fixture
async def webhook(
    make_channel: MakeChannel, database: Database
) -> AsyncIterator[tuple[TelegramChannel, httpx.AsyncClient]]:
    channel = await make_channel(mode="webhook", webhook_secret=WEBHOOK_SECRET)
    api = create_app(database)
    channel.mount(api)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        yield channel, client


def signed(secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret}


async def post(client: httpx.AsyncClient, update: dict[str, Any], headers: dict[str, str]) -> int:
    response = await client.post(
        URL, content=json.dumps(update), headers=headers | {"Content-Type": "application/json"}
    )
    return response.status_code


async def test_the_webhook_is_registered_with_its_secret(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram
) -> None:
    [call] = fake_telegram.calls_of("setWebhook")
    assert call.params["url"] == "https://bot.example.com/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert fake_telegram.calls_of("getUpdates") == []


async def test_a_whole_survey_over_the_webhook(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram, chat: Chat
) -> None:
    _, client = webhook
    start = {"update_id": 1, **fake_telegram.build.command(CUSTOMER, "start", "nps")}
    assert await post(client, start, signed()) == 200
    await chat.handled(1)
    question = chat.last()
    press = {"update_id": 2, **fake_telegram.build.callback_query(question, "a1|1|recommend|10")}
    assert await post(client, press, signed()) == 200
    await chat.handled(2)
    reason = {"update_id": 3, **fake_telegram.build.text(CUSTOMER, "Everything just works")}
    assert await post(client, reason, signed()) == 200
    await chat.handled(3)
    assert chat.last()["text"] == "Thank you, this helps us a lot!"


@pytest.mark.parametrize("headers", [{}, signed("wrong"), signed("")], ids=["missing", "wrong", "empty"])
async def test_an_update_without_the_right_secret_is_refused(
    webhook: tuple[TelegramChannel, httpx.AsyncClient],
    fake_telegram: FakeTelegram,
    database: Database,
    headers: dict[str, str],
) -> None:
    _, client = webhook
    update = {"update_id": 7, **fake_telegram.build.command(CUSTOMER, "start", "nps")}
    assert await post(client, update, headers) == 403
    assert await inbox_rows(database) == []
    assert fake_telegram.calls_of("sendMessage") == []


async def test_a_redelivered_update_has_no_second_effect(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram, chat: Chat
) -> None:
    _, client = webhook
    start = {"update_id": 5, **fake_telegram.build.command(CUSTOMER, "start", "nps")}
    assert await post(client, start, signed()) == 200
    await chat.handled(5)
    assert await post(client, start, signed()) == 200
    await chat.handled(5)
    assert len(chat.texts()) == 1


async def test_malformed_json_gets_400(webhook: tuple[TelegramChannel, httpx.AsyncClient]) -> None:
    _, client = webhook
    response = await client.post(URL, content=b"{not json", headers=signed())
    assert response.status_code == 400


async def test_an_update_that_cannot_be_stored_gets_503_so_telegram_retries(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram
) -> None:
    channel, client = webhook
    working = channel.inbox.database
    channel.inbox.database = Database("postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    try:
        update = {"update_id": 9, **fake_telegram.build.command(CUSTOMER, "start", "nps")}
        assert await post(client, update, signed()) == 503
    finally:
        await channel.inbox.database.close()
        channel.inbox.database = working
    assert await post(client, update, signed()) == 200
