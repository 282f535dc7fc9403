"""An update handled twice (the inbox resubmitting it after a crash, or its 30 s retry) answers and acts once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select
from telegram import Update

from bot.cases import EventKey
from bot.engine import Engine
from bot.events import Respondent, StartSurvey
from bot.outbound import Outcome
from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import CaseEvent
from tests.fakes.telegram_api import GROUP_MEMBER, FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, MakeChannel, outbox_settled, staff_alert

FIRST_QUESTION = "How satisfied are you with our service?"


async def push_twice(channel: TelegramChannel, chat: Chat, built: dict[str, Any]) -> None:
    """Delivers the update, then hands it to the bot again as the inbox does with one it did not mark handled."""
    update_id = await chat.push(built)
    update = Update.de_json({"update_id": update_id, **built}, channel.application.bot)
    assert update is not None
    assert await channel.handle(update)


async def trail(database: Database) -> list[str]:
    async with database.snapshot() as session:
        return list(await session.exec(select(CaseEvent.action).order_by(col(CaseEvent.id))))


@pytest.mark.parametrize("command", ["help", "survey", "language", "stop", "forget", "nosuch"])
async def test_a_direct_reply_is_sent_once_to_an_update_handled_twice(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, command: str
) -> None:
    await push_twice(polling, chat, fake_telegram.build.command(CUSTOMER, command))
    assert len(chat.texts()) == 1


async def test_the_pointer_to_a_private_chat_is_sent_once_to_a_group_update_handled_twice(
    polling: TelegramChannel, fake_telegram: FakeTelegram, database: Database
) -> None:
    group = Chat(fake_telegram, database, -1009876543210)
    await push_twice(polling, group, fake_telegram.build.command(group.chat_id, "start", "csat"))
    assert group.texts() == ["Surveys run in a private chat with me: https://t.me/feedback_test_bot"]


async def test_a_staff_message_to_the_customer_handled_twice_reaches_them_once(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", "The app deleted my order")
    alert = await staff_alert(fake_telegram)
    await push_twice(polling, staff, fake_telegram.build.callback_query(alert, "k1|contact|1", user_id=GROUP_MEMBER))
    prompts = [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "message to the customer" in m.get("text", "")]
    assert len(prompts) == 1
    reply = fake_telegram.build.message(
        STAFF_CHAT, user_id=GROUP_MEMBER, text="Which order number was it?", reply_to_message=prompts[0]
    )
    await push_twice(polling, staff, {"message": reply})
    await outbox_settled(database)
    assert [text for text in chat.texts() if "Which order number was it?" in text] == [chat.texts()[-1]]
    assert await trail(database) == ["opened", "contacted"]


async def test_redelivered_staff_presses_change_the_case_once(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", "Charged twice")
    alert = await staff_alert(fake_telegram)
    await push_twice(polling, staff, fake_telegram.build.callback_query(alert, "k1|ack|1", user_id=GROUP_MEMBER))
    await push_twice(polling, staff, fake_telegram.build.callback_query(alert, "k1|mine|1", user_id=GROUP_MEMBER))
    await outbox_settled(database)
    assert await trail(database) == ["opened", "acknowledged", "assigned"]
    lines = [text for text in fake_telegram.sent_messages(STAFF_CHAT) if text.startswith("Case #1: ")]
    assert lines == [
        f"Case #1: acknowledged by tg:{GROUP_MEMBER}",
        f"Case #1: assigned to tg:{GROUP_MEMBER} by tg:{GROUP_MEMBER}",
    ]


async def test_the_resolve_question_is_asked_once_for_a_press_handled_twice(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", "Charged twice")
    alert = await staff_alert(fake_telegram)
    await push_twice(polling, staff, fake_telegram.build.callback_query(alert, "k1|resolve|1", user_id=GROUP_MEMBER))
    asked = [text for text in fake_telegram.sent_messages(STAFF_CHAT) if "corrective action taken" in text]
    assert asked == ["Case #1: reply to this message with the corrective action taken."]


async def test_a_message_perhaps_sent_before_a_crash_is_counted_as_resent_after_restart(
    make_channel: MakeChannel,
    engine: Engine,
    chat: Chat,
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The earlier process applied the update and may have sent its reply, then died before recording the send."""
    built = fake_telegram.build.command(CUSTOMER, "start", "csat")
    update_id = fake_telegram.push_update(built)
    await engine.handle(StartSurvey(Respondent("telegram", str(CUSTOMER)), f"telegram-{update_id}", "csat"))
    channel = await make_channel()  # the restart
    await chat.handled(update_id)
    assert [FIRST_QUESTION in text for text in chat.texts()] == [True]
    assert "resent after restart: message 1 of telegram-" in caplog.text
    assert channel.services.delivery.replies.counts["telegram", Outcome.POSSIBLE_RESEND] == 1

    await push_twice(channel, chat, fake_telegram.build.command(CUSTOMER, "help"))  # no restart: nothing resent
    assert channel.services.delivery.replies.counts["telegram", Outcome.POSSIBLE_RESEND] == 1


async def test_an_answer_whose_step_was_applied_before_a_crash_still_gets_its_reply(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("complain", "Charged twice")
    await polling.services.cases.resolve(1, "tg:1", corrective_action="Refunded", root_cause="process", message=None)
    outcome = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(CUSTOMER) if "o1|1|yes" in str(m)]
    )
    pressed = {"update_id": 1000, **fake_telegram.build.callback_query(outcome[0], "o1|1|yes")}
    # The earlier process closed the case, then died before telling the customer.
    await polling.services.cases.customer_answer(
        1, "telegram", str(CUSTOMER), True, event=EventKey("telegram", "telegram-1000")
    )
    await chat.push(pressed)
    assert chat.texts()[-1] == "Thank you! Your complaint #1 is closed."
    assert fake_telegram.messages[(CUSTOMER, outcome[0]["message_id"])]["text"].endswith("✅ Yes")
    assert await trail(database) == ["opened", "resolved", "closed"]
