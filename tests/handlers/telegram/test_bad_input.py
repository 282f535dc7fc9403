"""Whatever customers send, they get a defined answer and nothing is lost or doubled."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlmodel import select

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Answer, Conversation
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_api import chat as telegram_chat
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, buttons

HINT = "I can only read text and button presses here: please type your answer or use the buttons."


async def answers(database: Database) -> list[tuple[str, int | None, str | None]]:
    async with database.snapshot() as session:
        return list(await session.exec(select(Answer.question_id, Answer.value, Answer.text)))


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "location", "contact"])
async def test_a_non_text_message_gets_a_one_line_hint(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database, kind: str
) -> None:
    await chat.command("start", "csat")
    await chat.push(getattr(fake_telegram.build, kind)(CUSTOMER))
    assert chat.last()["text"] == HINT
    assert await answers(database) == []


async def test_forged_stale_and_foreign_buttons_get_a_notice_and_change_nothing(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "csat")
    question = chat.last()
    forged = {
        **question,
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "x", "callback_data": "a1|1|satisfaction|9"},
                    {"text": "x", "callback_data": "a9|1|satisfaction|1"},
                    {"text": "x", "callback_data": "a1|99|satisfaction|1"},
                    {"text": "x", "callback_data": "garbage"},
                ]
            ]
        },
    }
    for data in ("a1|1|satisfaction|9", "a9|1|satisfaction|1", "a1|99|satisfaction|1", "garbage"):
        await chat.press(data, forged)
    other_user = fake_telegram.build.callback_query(question, "a1|1|satisfaction|1", user_id=555)
    await chat.push(other_user)
    notices = [call.params.get("text") for call in fake_telegram.calls_of("answerCallbackQuery")]
    assert notices == ["That button is no longer valid."] * 5
    assert await answers(database) == []
    assert "reply_markup" in fake_telegram.messages[(CUSTOMER, question["message_id"])]

    await chat.press("a1|1|satisfaction|4", question)
    await chat.press("a1|1|comment|skip")
    await chat.press("a1|1|satisfaction|1", question | {"reply_markup": question["reply_markup"]})
    assert fake_telegram.calls_of("answerCallbackQuery")[-1].params["text"] == (
        "This survey is already closed, so that answer can no longer be changed. Thank you!"
    )
    assert await answers(database) == [("satisfaction", 4, None), ("comment", None, None)]


async def test_a_double_tap_is_applied_once(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    question = chat.last()
    first = fake_telegram.build.callback_query(question, "a1|1|recommend|10")
    second = fake_telegram.build.callback_query(question, "a1|1|recommend|10")
    first_id = fake_telegram.push_update(first)
    await chat.push(second)
    await chat.handled(first_id)
    await chat.handled(
        fake_telegram.pending_updates[0]["update_id"] if fake_telegram.pending_updates else 0
    ) if False else None
    assert await answers(database) == [("recommend", 10, None)]
    reasons = [text for text in chat.texts() if text == "What is the main reason for your score?"]
    assert len(reasons) == 1


async def test_editing_a_typed_answer_updates_it(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    await chat.press("a1|1|recommend|8")
    typed = fake_telegram.build.text(CUSTOMER, "Fast delivery")
    await chat.push(typed)
    await chat.push(fake_telegram.build.edited_message(typed["message"], "Fast delivery, rude courier"))
    assert await answers(database) == [("recommend", 8, None), ("reason", None, "Fast delivery, rude courier")]


async def test_a_text_over_the_limit_is_refused_naming_the_limit(
    polling: TelegramChannel, chat: Chat, database: Database
) -> None:
    await chat.command("start", "csat")
    await chat.press("a1|1|satisfaction|1")
    await chat.say("x" * 3000)
    assert chat.last()["text"].startswith("That answer is 3000 characters long; the limit is 2000. Please shorten it.")
    assert await answers(database) == [("satisfaction", 1, None)]


async def test_in_a_group_the_bot_points_to_a_private_chat(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    group = -1009876543210
    update_id = fake_telegram.push_update(fake_telegram.build.command(group, "start", "csat"))
    await chat.handled(update_id)
    assert fake_telegram.sent_messages(group) == [
        "Surveys run in a private chat with me: https://t.me/feedback_test_bot"
    ]
    async with database.snapshot() as session:
        assert list(await session.exec(select(Conversation))) == []


async def test_a_reply_keyboard_never_exceeds_telegrams_button_data_limit(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("start", "internal-service")
    for row in buttons(chat.last()):
        for _, data in row:
            assert len(data.encode()) <= 64


async def test_button_numbers_beyond_64_bits_get_a_notice_and_no_error(
    polling: TelegramChannel,
    chat: Chat,
    fake_telegram: FakeTelegram,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await chat.command("start", "csat")
    beyond = str(2**64)
    customer_data = [f"a1|{beyond}|satisfaction|1", f"o1|{beyond}|yes", "a1|²|satisfaction|1"]
    shown = chat.last() | {"reply_markup": keyboard(customer_data)}
    for data in customer_data:
        await chat.press(data, shown)
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    staff_data = [f"k1|ack|{beyond}", "k1|ack"]
    alert = {"message_id": 1, "from": fake_telegram.bot, "chat": telegram_chat(STAFF_CHAT), "date": 0, "text": "Case"}
    for data in staff_data:
        await staff.press(data, alert | {"reply_markup": keyboard(staff_data)})
    notices = [call.params.get("text") for call in fake_telegram.calls_of("answerCallbackQuery")]
    assert notices == ["That button is no longer valid."] * 5
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert await answers(database) == []


def keyboard(data: list[str]) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "x", "callback_data": item} for item in data]]}
