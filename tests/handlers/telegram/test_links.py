"""Survey links on Telegram: `/start <token>` (what t.me/BOT?start=TOKEN sends) starts the linked survey with the
link's reference and attributes; a forged or expired link gets an answer in the person's language."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.i18n import translate
from bot.links import LinkRequest
from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Answer, Conversation, Invitation
from tests.conftest import Clock
from tests.handlers.telegram.conftest import Chat, buttons

ORDER = LinkRequest("csat", "ORDER123", {"region": "north", "agent": "maria"})


async def test_a_link_starts_its_survey_and_the_answers_carry_its_reference_and_attributes(
    polling: TelegramChannel, chat: Chat, database: Database
) -> None:
    link = await polling.services.links.create(ORDER, created_by="api:crm")
    await chat.command("start", link.token)
    question = chat.last()
    assert "How satisfied are you with our service?" in question["text"]
    [*_, (_, five)] = buttons(question)[0]
    await chat.press(five)
    async with database.snapshot() as session:
        [conversation] = await session.exec(select(Conversation))
        [answer] = await session.exec(select(Answer))
        [invitation] = await session.exec(select(Invitation))
    assert (conversation.survey_id, conversation.reference, answer.value) == ("csat", "ORDER123", 5)
    assert (invitation.conversation_id, invitation.link_id) == (conversation.id, link.id)
    assert invitation.attributes == {"region": "north", "agent": "maria"}


async def test_a_forged_link_is_answered_and_starts_nothing(
    polling: TelegramChannel, chat: Chat, database: Database
) -> None:
    link = await polling.services.links.create(ORDER, created_by="api:crm")
    forged = link.token[:-1] + ("A" if link.token[-1] != "A" else "B")
    await chat.command("start", forged)
    assert chat.texts()[-1] == translate("link_invalid", "en")
    assert chat.texts()[-1].startswith("This survey link is not valid.")
    async with database.snapshot() as session:
        assert list(await session.exec(select(Conversation))) == []


async def test_an_expired_link_is_answered_in_the_persons_language(
    polling: TelegramChannel, chat: Chat, clock: Clock
) -> None:
    link = await polling.services.links.create(LinkRequest("nps", expires_in=timedelta(days=7)), created_by="api:crm")
    clock.advance(days=8)
    start = chat.fake.build.command(chat.chat_id, "start", link.token)
    start["message"]["from"]["language_code"] = "es"
    await chat.push(start)
    assert chat.texts()[-1] == translate("link_expired", "es")
    assert chat.texts()[-1].startswith("Este enlace de encuesta ha caducado.")


async def test_the_deep_links_naming_a_survey_still_start_it_with_their_reference(
    polling: TelegramChannel, chat: Chat, database: Database
) -> None:
    await chat.command("start", "csat-ORDER123")
    assert "How satisfied are you with our service?" in chat.texts()[-1]
    async with database.snapshot() as session:
        [conversation] = await session.exec(select(Conversation))
        assert list(await session.exec(select(Invitation))) == []
    assert conversation.reference == "ORDER123"
