"""Survey names are ids typed by people: any letter case finds the survey."""

from __future__ import annotations

from bot.engine import Engine
from bot.events import StartSurvey, SubmitSurvey
from bot.prompts import Notice, NoticeKind, QuestionPrompt
from storage.db import Database
from storage.models import Conversation
from tests.bot.customer import Customer


async def test_a_survey_name_in_capitals_starts_the_survey(engine: Engine, database: Database) -> None:
    who = Customer(engine).who
    reply = await engine.handle(StartSurvey(who, "start-1", "CSAT", "ORDER-1"))
    assert [prompt.question_id for prompt in reply.prompts if isinstance(prompt, QuestionPrompt)] == ["satisfaction"]
    async with database.snapshot() as session:
        conversation = await session.get(Conversation, 1)
    assert conversation is not None and (conversation.survey_id, conversation.reference) == ("csat", "ORDER-1")


async def test_a_form_for_a_survey_named_in_mixed_case_is_stored(engine: Engine) -> None:
    answers = {"service": "hr", "quality": "4", "speed": "5", "comment": ""}
    reply = await engine.handle(SubmitSurvey(Customer(engine).who, "form-1", "Internal-Service", answers))
    thanks = Notice(kind=NoticeKind.THANKS, text="Thanks! Your feedback goes to the team anonymously.")
    assert reply.prompts == [thanks]
