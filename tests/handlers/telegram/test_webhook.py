"""Webhook mode: updates arrive at POST /telegram/webhook, guarded by the secret token."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.telegram.channel import TelegramChannel
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
    api = create_app(database, routes=channel.routes())
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


async def test_an_update_over_the_webhook_is_logged_under_its_id_which_ends_with_the_request(
    webhook: tuple[TelegramChannel, httpx.AsyncClient],
    fake_telegram: FakeTelegram,
    chat: Chat,
    caplog: pytest.LogCaptureFixture,
    correlated_records: None,
) -> None:
    _, client = webhook
    caplog.set_level(logging.INFO)
    assert (
        await post(client, {"update_id": 41, **fake_telegram.build.command(CUSTOMER, "start", "nps")}, signed()) == 200
    )
    await chat.handled(41)
    [handled] = [record for record in caplog.records if record.getMessage() == "telegram update 41 handled (message)"]
    assert getattr(handled, "correlation_id", None) == "telegram-41"
    logging.getLogger("handlers.telegram").info("after the request")
    assert getattr(caplog.records[-1], "correlation_id", "") is None  # the route's context ended with it


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


@pytest.mark.every_database
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


@pytest.mark.every_database
async def test_updates_arriving_together_are_each_stored_and_answered_once(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram, database: Database
) -> None:
    """Requests arriving while a store is under way are stored together; one delivered twice at once counts once."""
    _, client = webhook
    customers = [CUSTOMER + number for number in range(8)]
    starts = [
        {"update_id": 20 + number, **fake_telegram.build.command(customer, "start", "nps")}
        for number, customer in enumerate(customers)
    ]
    answers = await asyncio.gather(*(post(client, start, signed()) for start in [*starts, starts[0]]))
    assert answers == [200] * (len(starts) + 1)
    chats = [Chat(fake_telegram, database, customer) for customer in customers]
    for chat, start in zip(chats, starts, strict=True):
        await chat.handled(start["update_id"])
    assert [len(chat.texts()) for chat in chats] == [1] * len(chats)
    assert sorted(row.update_id for row in await inbox_rows(database)) == [start["update_id"] for start in starts]


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


def start_update(fake: FakeTelegram, **fields: Any) -> bytes:
    """A customer's /start as JSON, with some of its fields replaced."""
    update: dict[str, Any] = {"update_id": 11, **fake.build.command(CUSTOMER, "start", "csat")}
    return json.dumps(update | fields).encode()


def nested(depth: int) -> bytes:
    return b'{"update_id": 1, "message": ' + b"[" * depth + b"]" * depth + b"}"


NOT_AN_UPDATE: dict[str, Callable[[FakeTelegram], bytes]] = {
    "null": lambda _: b"null",
    "a list": lambda _: b"[]",
    "a string": lambda _: b'"update"',
    "a number": lambda _: b"12",
    "true": lambda _: b"true",
    "update_id over 64 bits": lambda fake: start_update(fake, update_id=2**64),
    "update_id over 63 bits": lambda fake: start_update(fake, update_id=2**63),
    "message as a string": lambda fake: start_update(fake, message="hello"),
    "10,000-deep nesting": lambda _: nested(10_000),
    "update_id a list": lambda fake: start_update(fake, update_id=[1]),
    "update_id an object": lambda fake: start_update(fake, update_id={"a": 1}),
    "update_id a word": lambda fake: start_update(fake, update_id="abc"),
    "update_id a fraction": lambda fake: start_update(fake, update_id=1.5),
    "update_id negative": lambda fake: start_update(fake, update_id=-7),
    "update_id infinity": lambda fake: start_update(fake, update_id=float("inf")),
    "update_id true": lambda fake: start_update(fake, update_id=True),
}


@pytest.mark.parametrize("body", NOT_AN_UPDATE.values(), ids=NOT_AN_UPDATE.keys())
async def test_a_body_that_is_not_an_update_gets_400_one_line_and_no_row(
    webhook: tuple[TelegramChannel, httpx.AsyncClient],
    fake_telegram: FakeTelegram,
    database: Database,
    caplog: pytest.LogCaptureFixture,
    body: Callable[[FakeTelegram], bytes],
) -> None:
    _, client = webhook
    caplog.clear()
    response = await client.post(URL, content=body(fake_telegram), headers=signed())
    assert response.status_code == 400
    assert await inbox_rows(database) == []
    assert_one_short_line(caplog)


def assert_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    [record] = [record for record in caplog.records if record.levelno >= logging.INFO]
    assert record.exc_info is None and "\n" not in record.getMessage()


def without(message: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != key}


def with_button(fake: FakeTelegram) -> dict[str, Any]:
    button = {"text": "x", "callback_data": "x"}
    message: dict[str, Any] = fake.build.text(CUSTOMER, "question")["message"]
    return message | {"reply_markup": {"inline_keyboard": [[button]]}}


LACKING: dict[str, Callable[[FakeTelegram], dict[str, Any]]] = {
    "a message without a chat": lambda fake: {"message": without(fake.build.text(CUSTOMER, "hi")["message"], "chat")},
    "a message without a sender": lambda fake: {"message": without(fake.build.text(CUSTOMER, "hi")["message"], "from")},
    "text that is not a string": lambda fake: {"message": fake.build.text(CUSTOMER, "hi")["message"] | {"text": 5}},
    "an edit whose text is a list": lambda fake: {
        "edited_message": fake.build.text(CUSTOMER, "hi")["message"] | {"text": ["x"], "edit_date": 1}
    },
    "a chat id that is a string": lambda fake: {
        "message": fake.build.text(CUSTOMER, "hi")["message"] | {"chat": {"id": "x", "type": "private"}}
    },
    "a button press without data": lambda fake: {
        "callback_query": without(fake.build.callback_query(with_button(fake), "x")["callback_query"], "data")
    },
    "nothing of a known kind": lambda _: {"future_update_kind": {"a": 1}},
}


@pytest.mark.parametrize("content", LACKING.values(), ids=LACKING.keys())
async def test_an_update_lacking_what_its_handler_needs_is_dropped_with_one_line(
    webhook: tuple[TelegramChannel, httpx.AsyncClient],
    fake_telegram: FakeTelegram,
    database: Database,
    caplog: pytest.LogCaptureFixture,
    content: Callable[[FakeTelegram], dict[str, Any]],
) -> None:
    _, client = webhook
    caplog.clear()
    response = await client.post(URL, content=json.dumps({"update_id": 12, **content(fake_telegram)}), headers=signed())
    assert response.status_code == 200
    assert await inbox_rows(database) == []
    assert_one_short_line(caplog)
    assert fake_telegram.calls_of("sendMessage") == []


async def test_a_body_over_the_limit_gets_413_before_it_is_read(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], fake_telegram: FakeTelegram, database: Database
) -> None:
    _, client = webhook
    big = start_update(fake_telegram, padding="x" * 2_000_000)
    assert (await client.post(URL, content=big, headers=signed())).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    assert (await client.post(URL, content=chunks(), headers=signed())).status_code == 413
    assert await inbox_rows(database) == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
UPDATE_LIKE = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-(2**70), max_value=2**70) | JSON_VALUES},
    optional={kind: JSON_VALUES for kind in ("message", "edited_message", "callback_query", "my_chat_member")},
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    body=st.binary()
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | UPDATE_LIKE.map(lambda value: json.dumps(value).encode())
)
async def test_no_body_makes_the_webhook_fail_or_store_a_row(
    webhook: tuple[TelegramChannel, httpx.AsyncClient], database: Database, body: bytes
) -> None:
    _, client = webhook
    response = await client.post(URL, content=body, headers=signed())
    assert response.status_code in (200, 400)
    assert await inbox_rows(database) == []
