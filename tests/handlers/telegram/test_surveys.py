"""Whole surveys in Telegram over long polling, as a customer takes them."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Answer, Complaint, Conversation
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, buttons


@pytest.mark.every_database
async def test_a_deep_linked_csat_survey_with_a_complaint(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "csat-ORDER123")
    question = chat.last()
    assert question["text"] == (
        "Two quick questions about your experience.\n\nHow satisfied are you with our service?\n"
        "1 = Very dissatisfied · 5 = Very satisfied"
    )
    assert buttons(question) == [[(str(n), f"a1|1|satisfaction|{n}") for n in range(1, 6)]]

    await chat.press("a1|1|satisfaction|2", question)
    pressed = fake_telegram.messages[(CUSTOMER, question["message_id"])]
    assert pressed["text"].endswith("\n\n✅ 2")
    assert "reply_markup" not in pressed  # no stale keyboard stays live
    assert chat.last()["text"] == (
        "We're sorry about this. Case #1 is open and our team will look into it.\n\nWe're sorry. What went wrong?"
    )

    await chat.say("The courier left my parcel in the rain.")
    assert chat.last()["text"] == "Thank you for your feedback!"
    alerts = await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT))
    # Sent as soon as the score opened the case; the comment may or may not have arrived by then.
    assert alerts[0].startswith("New complaint #1 (low_score; priority normal")
    assert "from a telegram customer\nSurvey: csat, reference ORDER123\nAnswers: satisfaction 2" in alerts[0]
    async with database.snapshot() as session:
        answers = list(
            await session.exec(select(Answer.question_id, Answer.value, Answer.text).order_by(col(Answer.id)))
        )
        [conversation] = await session.exec(select(Conversation))
        [complaint] = await session.exec(select(Complaint))
    assert answers == [("satisfaction", 2, None), ("what_went_wrong", None, "The courier left my parcel in the rain.")]
    assert (conversation.reference, conversation.status) == ("ORDER123", "completed")
    assert complaint.text == "The courier left my parcel in the rain."
    assert fake_telegram.confirmed_offset > 0 and fake_telegram.pending_updates == []


async def test_nps_buttons_fit_a_phone_and_skip_has_its_own_row(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("start", "nps")
    question = chat.last()
    rows = buttons(question)
    assert [[label for label, _ in row] for row in rows] == [[str(n) for n in range(6)], [str(n) for n in range(6, 11)]]
    assert question["text"].endswith("0 = Not at all likely · 10 = Extremely likely")
    await chat.press("a1|1|recommend|9", question)
    assert buttons(chat.last()) == [[("Skip", "a1|1|reason|skip")]]
    await chat.press("a1|1|reason|skip")
    assert chat.last()["text"] == "Thank you, this helps us a lot!"


async def test_an_unknown_survey_gets_a_polite_message_and_the_list(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("start", "pizza")
    assert chat.last()["text"] == "There is no survey called “pizza”. Available: ces, csat, internal-service, nps."


async def test_survey_menu_language_choice_and_a_spanish_survey(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("language")
    assert [row[0] for row in buttons(chat.last())] == [
        ("English", "l1|en"),
        ("Español", "l1|es"),
        ("Русский", "l1|ru"),
    ]
    await chat.press("l1|es")
    assert chat.last()["text"] == "A partir de ahora le hablaré en español."
    await chat.command("survey")
    menu = chat.last()
    assert menu["text"] == "¿Qué encuesta quiere responder?"
    assert ("Esfuerzo del cliente", "s1|ces") in [row[0] for row in buttons(menu)]
    await chat.press("s1|ces", menu)
    assert chat.last()["text"].startswith("¿Qué tan fácil fue resolver su problema?")
    await chat.say("siete")
    assert buttons(chat.last()) == [[("Sí", "a1|1|resolved|yes"), ("No", "a1|1|resolved|no")]]


async def test_help_and_an_unknown_command(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("help")
    await chat.command("frobnicate")
    first, second = chat.texts()
    assert first == second and first.startswith("I ask short questions about our service")
    assert "/forget" in first


async def test_the_command_menu_is_published_in_every_language(
    polling: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    calls = fake_telegram.calls_of("setMyCommands")
    assert sorted(call.params.get("language_code", "") for call in calls) == ["", "es", "ru"]
    assert {command["command"] for command in calls[0].params["commands"]} == {
        "start",
        "survey",
        "complain",
        "language",
        "stop",
        "forget",
        "help",
    }


async def test_complain_command_opens_a_complaint_and_alerts_staff(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    await chat.command("complain")
    assert chat.last()["text"].startswith("Please describe what went wrong after the command")
    await chat.command("complain", "I was charged twice for one order")
    assert chat.last()["text"] == "Thank you for telling us. Your complaint is registered as case #1."
    alerts = await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT))
    assert alerts == [
        "New complaint #1 (explicit; priority high, billing, sentiment -0.63) from a telegram customer\n"
        "“I was charged twice for one order”\nStatus: new"
    ]
