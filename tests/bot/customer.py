"""A test customer: sends core events to the engine the way an adapter would; and what the engine stored."""

from __future__ import annotations

import itertools

from sqlmodel import col, select

from bot.engine import Engine
from bot.events import (
    ChoiceAnswer,
    Complain,
    EditText,
    Event,
    Forget,
    OptOut,
    Respondent,
    SetLanguage,
    StartSurvey,
    TextAnswer,
)
from bot.prompts import Notice, QuestionPrompt, Reply
from storage.db import Database
from storage.models import Answer, Complaint, Conversation

_event_ids = itertools.count(1)


class Customer:
    def __init__(self, engine: Engine, user_id: str = "alice", channel: str = "test", language: str = "en") -> None:
        self.engine = engine
        self.who = Respondent(channel=channel, user_id=user_id, language=language)
        self.last_question: QuestionPrompt | None = None

    @staticmethod
    def next_event_id() -> str:
        return f"event-{next(_event_ids)}"

    async def _send(self, reply: Reply) -> Reply:
        questions = [prompt for prompt in reply.prompts if isinstance(prompt, QuestionPrompt)]
        if questions:
            self.last_question = questions[-1]
        return reply

    async def start(self, survey_id: str, reference: str | None = None, event_id: str | None = None) -> Reply:
        event = StartSurvey(self.who, event_id or self.next_event_id(), survey_id, reference)
        return await self._send(await self.engine.handle(event))

    async def say(self, text: str, event_id: str | None = None, message_ref: str | None = None) -> Reply:
        event = TextAnswer(self.who, event_id or self.next_event_id(), text, message_ref)
        return await self._send(await self.engine.handle(event))

    async def edit(self, message_ref: str, text: str) -> Reply:
        return await self._send(await self.engine.handle(EditText(self.who, self.next_event_id(), message_ref, text)))

    async def send(self, make: type[SetLanguage] | type[OptOut] | type[Forget], *args: str) -> Reply:
        event: Event = make(self.who, self.next_event_id(), *args)
        return await self._send(await self.engine.handle(event))

    async def press(self, value: str, question: QuestionPrompt | None = None, event_id: str | None = None) -> Reply:
        """Presses a button of `question` (default: the last question shown)."""
        shown = question or self.last_question
        assert shown is not None, "no question was shown"
        event = ChoiceAnswer(
            self.who, event_id or self.next_event_id(), shown.conversation_id, shown.question_id, value
        )
        return await self._send(await self.engine.handle(event))

    async def complain(self, text: str) -> Reply:
        return await self._send(await self.engine.handle(Complain(self.who, self.next_event_id(), text)))


def question_of(reply: Reply) -> QuestionPrompt | None:
    return next((prompt for prompt in reply.prompts if isinstance(prompt, QuestionPrompt)), None)


def notices(reply: Reply) -> list[str]:
    return [prompt.text for prompt in reply.prompts if isinstance(prompt, Notice)]


async def stored_answers(database: Database) -> list[Answer]:
    async with database.snapshot() as session:
        return list(await session.exec(select(Answer).order_by(col(Answer.id))))


async def conversations(database: Database) -> list[Conversation]:
    async with database.snapshot() as session:
        return list(await session.exec(select(Conversation).order_by(col(Conversation.id))))


async def complaints(database: Database) -> list[Complaint]:
    async with database.snapshot() as session:
        return list(await session.exec(select(Complaint).order_by(col(Complaint.id))))
