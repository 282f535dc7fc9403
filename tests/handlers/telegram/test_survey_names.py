"""Deep links name surveys in any letter case."""

from __future__ import annotations

from handlers.telegram import TelegramChannel
from tests.handlers.telegram.conftest import Chat


async def test_a_deep_link_in_capitals_starts_the_survey(polling: TelegramChannel, chat: Chat) -> None:
    await chat.command("start", "CSAT")
    assert "How satisfied are you with our service?" in chat.texts()[-1]
