"""Deep links name surveys in any letter case."""

from __future__ import annotations

from sqlmodel import select

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Conversation
from tests.handlers.telegram.conftest import Chat


async def test_a_deep_link_in_capitals_starts_the_survey(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("start", "CSAT")
    assert "How satisfied are you with our service?" in chat.texts()[-1]


async def test_a_deep_link_in_capitals_keeps_its_reference(
    polling: TelegramChannel, chat: Chat, database: Database
) -> None:
    await chat.command("start", "CSAT-Order123")
    assert "How satisfied are you with our service?" in chat.texts()[-1]
    async with database.snapshot() as session:
        [conversation] = await session.exec(select(Conversation))
    assert (conversation.survey_id, conversation.reference) == ("csat", "Order123")
