"""Properties of the survey flow: any sequence of starts, presses, texts, edits, redeliveries and /forget by one or
two people, applied to the engine on a fresh SQLite database."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.engine import Engine
from bot.events import ChoiceAnswer, EditText, Event, Forget, Respondent, StartSurvey, TextAnswer
from bot.prompts import Notice, NoticeKind, QuestionPrompt
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.survey_flow import Parsed, condition_value
from bot.surveys import Survey
from storage.db import Database
from storage.models import Answer, Conversation, ConversationStatus
from tests.conftest import Clock, database_dump

SURVEYS = ["csat", "nps", "ces", "internal-service", "no-such-survey"]
ANSWER_WORDS = ["1", "2", "3", "4", "5", "9", "10", "0", "five", "yes", "no", "skip", " 4. ", "", "   "]
MAX_64_BITS = 2**63 - 1

# A step names what a person does; indexes pick among what that person was shown or typed so far.
people = st.sampled_from([0, 0, 0, 1])  # the second person mostly gets in the first one's way
free_texts = st.one_of(
    st.text(max_size=40),
    st.just("The courier was late and rude"),
    st.just("Очень плохо 😡 ‮evil‬"),
    st.integers(1000, 20_000).map(lambda size: "x" * size),
)
starts = st.tuples(st.just("start"), people, st.sampled_from(SURVEYS))
# A shown question (mostly one of the latest), and an option of it.
presses = st.tuples(st.just("press"), people, st.integers(0, 2) | st.integers(0, 50), st.integers(0, 12))
sayings = st.tuples(st.just("say"), people, st.sampled_from(ANSWER_WORDS))
steps = st.one_of(
    presses,  # three times as likely: surveys are answered more than anything else is done
    presses,
    presses,
    starts,
    st.tuples(st.just("forge"), people, st.integers(-(2**70), 2**70), st.text(max_size=20), st.text(max_size=20)),
    sayings,
    sayings,
    sayings,
    st.tuples(st.just("write"), people, free_texts),  # words the person's own: /forget must erase them
    st.tuples(st.just("edit"), people, st.integers(0, 50), st.sampled_from(ANSWER_WORDS) | free_texts),
    st.tuples(st.just("again"), st.integers(0, 50)),  # the platform delivers an earlier event once more
    st.tuples(st.just("forget"), people),
)
# Most runs begin with someone starting a survey that exists.
scripts = st.tuples(
    st.tuples(st.just("start"), people, st.sampled_from(SURVEYS[:-1])), st.lists(steps, min_size=5, max_size=20)
)


@dataclass
class Person:
    who: Respondent
    shown: list[QuestionPrompt] = field(default_factory=list)  # newest last
    messages: list[str] = field(default_factory=list)  # refs of the messages they typed
    words: list[str] = field(default_factory=list)  # what they wrote into named (not anonymous) surveys


@dataclass
class Run:
    engine: Engine
    people: list[Person]
    applied: list[Event] = field(default_factory=list)

    def event_id(self) -> str:
        return f"event-{uuid.uuid4().hex}"

    async def apply(self, event: Event) -> None:
        reply = await self.engine.handle(event)
        self.applied.append(event)
        person = next(person for person in self.people if person.who == event.who)
        person.shown += [prompt for prompt in reply.prompts if isinstance(prompt, QuestionPrompt)]

    async def step(self, step: tuple[Any, ...]) -> None:
        """Applies one step; a redelivery must leave every table as it was."""
        kind, rest = step[0], step[1:]
        if kind == "again":
            if self.applied:
                before = await database_dump(self.engine.database)
                reply = await self.engine.handle(self.applied[rest[0] % len(self.applied)])
                assert reply.duplicate
                assert await database_dump(self.engine.database) == before
            return
        person = self.people[rest[0]]
        await self.apply(await self.event_of(kind, person, *rest[1:]))

    async def event_of(self, kind: str, person: Person, *args: Any) -> Event:
        who, event_id = person.who, self.event_id()
        match kind:
            case "start":
                return StartSurvey(who, event_id, args[0])
            case "press" if person.shown:
                question = person.shown[-1 - args[0] % len(person.shown)]
                values = [option.value for option in question.options] + (
                    [question.skip.value] if question.skip else []
                )
                value = values[args[1] % len(values)] if values else "yes"
                return ChoiceAnswer(who, event_id, question.conversation_id, question.question_id, value)
            case "press":
                return ChoiceAnswer(who, event_id, 1, "satisfaction", "5")
            case "forge":
                return ChoiceAnswer(who, event_id, *args)
            case "say" | "write":
                return await self.typed(person, event_id, args[0], remember=kind == "write")
            case "edit" if person.messages:
                ref = person.messages[-1 - args[0] % len(person.messages)]
                text = args[1] if args[1] in ANSWER_WORDS else await self.remembered(person, self.words_of(args[1]))
                return EditText(who, event_id, ref, text)
            case "edit":
                return EditText(who, event_id, "no-such-message", args[1])
            case _:
                return Forget(who, event_id)

    async def typed(self, person: Person, event_id: str, text: str, *, remember: bool) -> TextAnswer:
        if remember:
            text = await self.remembered(person, self.words_of(text))
        ref = f"message-{uuid.uuid4().hex}"
        person.messages.append(ref)
        return TextAnswer(person.who, event_id, text, ref)

    @staticmethod
    def words_of(text: str) -> str:
        """The text with a mark of its own, so that a search finds these words and nothing else."""
        return f"{text} mark{uuid.uuid4().hex[:12]}"

    async def remembered(self, person: Person, text: str) -> str:
        survey = await self.engine.conversations.open_survey_of(person.who)
        if survey is None or not survey.anonymous:  # anonymous answers are nobody's: /forget cannot find them
            person.words.append(text.split()[-1])
        return text


async def check_invariants(engine: Engine) -> None:
    """Each question answered at most once per conversation; an open one stands at an unanswered question that
    applies given its answers."""
    async with engine.database.snapshot() as session:
        answers = list(await session.exec(select(Answer)))
        open_conversations = list(
            await session.exec(select(Conversation).where(Conversation.status == ConversationStatus.OPEN))
        )
    keys = [(answer.conversation_id, answer.question_id) for answer in answers]
    assert len(keys) == len(set(keys)), "an answer stored twice"
    for conversation in open_conversations:
        own = {answer.question_id: answer for answer in answers if answer.conversation_id == conversation.id}
        question = engine.catalogue[conversation.survey_id].question(conversation.current_question or "")
        assert question is not None, "an open conversation at no question"
        assert question.id not in own, "an open conversation at a question already answered"
        given = {
            question_id: condition_value(answer.kind, Parsed(answer.value, answer.choice, answer.text, answer.skipped))
            for question_id, answer in own.items()
        }
        assert question.condition is None or question.condition.holds(given), "at a question that does not apply"


async def check_forgotten(engine: Engine, person: Person) -> None:
    dump = await database_dump(engine.database)
    assert person.who.user_id not in dump
    assert not [word for word in person.words if word in dump]
    person.words.clear()


@given(script=scripts.map(lambda script: [script[0], *script[1]]))
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_any_sequence_keeps_the_survey_flow_sound(
    script: list[tuple[Any, ...]], sqlite_template: Path, tmp_path: Path, surveys: dict[str, Survey]
) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite+aiosqlite:///{path}")
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    engine = Engine(database=database, surveys=surveys, analyzer=analyzer, hash_key=b"test-key", clock=Clock())
    names = [f"person-{uuid.uuid4().hex[:10]}", f"person-{uuid.uuid4().hex[:10]}"]
    run = Run(engine, [Person(Respondent("test", name, "en")) for name in names])
    try:
        for step in script:
            await run.step(step)
            await check_invariants(engine)
            if step[0] == "forget":
                await check_forgotten(engine, run.people[step[1]])
    finally:
        await database.close()
        path.unlink()


# What the property found, on both databases.


async def test_an_event_redelivered_after_forget_changes_nothing(engine: Engine, database: Database) -> None:
    who = Respondent("test", "person-redelivered", "en")
    start = StartSurvey(who, "event-start", "csat")
    await engine.handle(start)
    await engine.handle(Forget(who, "event-forget"))
    before = await database_dump(database)
    reply = await engine.handle(start)  # Telegram or Slack delivers the start once more
    assert reply.duplicate and reply.prompts == []
    assert await database_dump(database) == before
    assert "person-redelivered" not in before


@pytest.mark.parametrize("conversation_id", [2**31, 2**63, 2**64, -1])
async def test_a_press_naming_an_impossible_conversation_is_refused(engine: Engine, conversation_id: int) -> None:
    who = Respondent("test", "person-forging", "en")
    reply = await engine.handle(ChoiceAnswer(who, f"event-{conversation_id}", conversation_id, "satisfaction", "5"))
    [notice] = reply.prompts
    assert isinstance(notice, Notice) and notice.kind == NoticeKind.REFUSAL
