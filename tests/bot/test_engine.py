"""The survey engine, end to end through real storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.engine import Engine
from bot.events import Respondent, StartSurvey, SubmitSurvey
from bot.i18n import translate
from bot.prompts import ComplaintOpened, Notice, NoticeKind, QuestionPrompt, Reply
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import Survey
from storage.db import Database
from storage.models import Answer, Conversation, ConversationStatus, InboundEvent, Person
from tests.bot.customer import Customer, complaints, conversations, notices, question_of, stored_answers
from tests.conftest import Clock

TEXT = {"en": "Question?"}
CHOICE_OPTIONS = [
    {"id": "it-helpdesk", "label": {"en": "IT helpdesk", "es": "Soporte"}},
    {"id": "facilities", "label": {"en": "Facilities"}},
    {"id": "hr", "label": {"en": "HR"}},
]
QUESTIONS: dict[str, dict[str, Any]] = {
    "csat": {"kind": "csat"},
    "nps": {"kind": "nps"},
    "ces": {"kind": "ces"},
    "rating": {"kind": "rating", "min": 0, "max": 3},
    "choice": {"kind": "choice", "options": CHOICE_OPTIONS},
    "yes_no": {"kind": "yes_no"},
    "text": {"kind": "text", "max_length": 200},
    "optional_text": {"kind": "text", "optional": True},
}


def one_question_survey(name: str) -> Survey:
    question = {"id": "q", "text": TEXT, **QUESTIONS[name]}
    return Survey.model_validate(
        {"id": name.replace("_", "-"), "title": TEXT, "thank_you": {"en": "Thanks!"}, "questions": [question]}
    )


@pytest.fixture
def kinds_engine(database: Database, clock: Clock) -> Engine:
    surveys = {survey.id: survey for survey in map(one_question_survey, QUESTIONS)}
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    return Engine(database=database, surveys=surveys, analyzer=analyzer, hash_key=b"k", clock=clock)


VALID_TYPED = [
    ("csat", "4", {"value": 4}),
    ("csat", "four", {"value": 4}),
    ("csat", "3", {"value": 3}),
    ("csat", "three", {"value": 3}),
    ("csat", " 5. ", {"value": 5}),
    ("csat", "cinco", {"value": 5}),
    ("nps", "0", {"value": 0}),
    ("nps", "ten", {"value": 10}),
    ("ces", "7", {"value": 7}),
    ("rating", "0", {"value": 0}),
    ("choice", "2", {"choice": "facilities"}),
    ("choice", "hr", {"choice": "hr"}),
    ("choice", "it helpdesk", {"choice": "it-helpdesk"}),
    ("choice", "Soporte", {"choice": "it-helpdesk"}),
    ("yes_no", "Yes", {"value": 1}),
    ("yes_no", "no", {"value": 0}),
    ("yes_no", "да", {"value": 1}),
    ("text", "Quick and friendly.", {"text": "Quick and friendly."}),
    ("optional_text", "skip", {"skipped": True}),
]


@pytest.mark.parametrize(("kind", "typed", "stored"), VALID_TYPED)
async def test_a_valid_typed_answer_is_stored_and_completes_the_survey(
    kinds_engine: Engine, database: Database, kind: str, typed: str, stored: dict[str, Any]
) -> None:
    customer = Customer(kinds_engine)
    await customer.start(kind.replace("_", "-"))
    reply = await customer.say(typed)
    assert notices(reply) == ["Thanks!"]
    [answer] = await stored_answers(database)
    assert {key: getattr(answer, key) for key in stored} == stored
    [conversation] = await conversations(database)
    assert conversation.status == ConversationStatus.COMPLETED


INVALID_TYPED = [
    ("csat", "banana", "hint_number", {"low": 1, "high": 5}),
    ("csat", "9", "hint_out_of_range", {"value": 9, "low": 1, "high": 5}),
    ("csat", "0", "hint_out_of_range", {"value": 0, "low": 1, "high": 5}),
    ("csat", "4.5", "hint_number", {"low": 1, "high": 5}),
    ("csat", "skip", "hint_number", {"low": 1, "high": 5}),
    # Digits of other scripts, which int() and str.isdigit() take: ASCII digits and number words only.
    ("csat", "\u0663", "hint_number", {"low": 1, "high": 5}),  # Arabic-Indic three
    ("csat", "\uff13", "hint_number", {"low": 1, "high": 5}),  # fullwidth three
    ("nps", "\u096f", "hint_number", {"low": 0, "high": 10}),  # Devanagari nine
    ("choice", "\u0662", "hint_choice", {"options": "IT helpdesk, Facilities, HR"}),  # Arabic-Indic two
    ("choice", "\u00b2", "hint_choice", {"options": "IT helpdesk, Facilities, HR"}),  # superscript two
    ("nps", "11", "hint_out_of_range", {"value": 11, "low": 0, "high": 10}),
    ("ces", "eight", "hint_out_of_range", {"value": 8, "low": 1, "high": 7}),
    ("rating", "4", "hint_out_of_range", {"value": 4, "low": 0, "high": 3}),
    ("choice", "7", "hint_choice", {"options": "IT helpdesk, Facilities, HR"}),
    ("choice", "pizza", "hint_choice", {"options": "IT helpdesk, Facilities, HR"}),
    ("yes_no", "maybe", "hint_yes_no", {}),
    ("text", "   ", "hint_text_empty", {}),
    ("text", "x" * 5000, "hint_text_too_long", {"length": 5000, "limit": 200}),
]


@pytest.mark.parametrize(("kind", "typed", "hint", "params"), INVALID_TYPED)
async def test_a_bad_answer_gets_a_hint_and_the_question_again(
    kinds_engine: Engine, database: Database, kind: str, typed: str, hint: str, params: dict[str, object]
) -> None:
    customer = Customer(kinds_engine)
    first = question_of(await customer.start(kind.replace("_", "-")))
    reply = await customer.say(typed)
    assert reply.prompts[0].type == "notice"
    assert reply.prompts[0].kind == NoticeKind.HINT
    assert reply.prompts[0].text == translate(hint, "en", **params)
    assert question_of(reply) == first
    assert await stored_answers(database) == []


async def test_scale_questions_offer_every_step_with_end_labels(engine: Engine) -> None:
    customer = Customer(engine, language="es")
    question = question_of(await customer.start("nps"))
    assert question is not None
    assert [option.value for option in question.options] == [str(step) for step in range(11)]
    assert (question.low_label, question.high_label) == ("Nada probable", "Muy probable")
    assert question.text.startswith("¿Qué probabilidad")


async def test_low_csat_asks_what_went_wrong_and_high_csat_asks_for_an_optional_comment(engine: Engine) -> None:
    unhappy, happy = Customer(engine, "unhappy"), Customer(engine, "happy")
    await unhappy.start("csat")
    await happy.start("csat")
    asked_unhappy = question_of(await unhappy.say("2"))
    asked_happy = question_of(await happy.say("4"))
    assert asked_unhappy is not None and asked_unhappy.question_id == "what_went_wrong"
    assert asked_unhappy.skip is None
    assert asked_happy is not None and asked_happy.question_id == "comment"
    assert asked_happy.skip is not None


async def test_a_condition_on_yes_no_and_an_unmet_condition_skips_the_question(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    await customer.start("ces")
    assert (question := question_of(await customer.say("6"))) is not None
    assert question.question_id == "resolved"
    reply = await customer.say("no")
    assert notices(reply) == ["Thank you for your feedback!"]  # "obstacle" is asked only when effort <= 3
    assert [answer.question_id for answer in await stored_answers(database)] == ["effort", "resolved"]


async def test_buttons_answer_the_current_question_and_update_an_earlier_one_while_open(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    first = question_of(await customer.start("csat"))
    await customer.press("4", first)
    reply = await customer.press("5", first)
    assert notices(reply) == [translate("answer_updated", "en")]
    answers = await stored_answers(database)
    assert [(answer.question_id, answer.value) for answer in answers] == [("satisfaction", 5)]
    assert (await conversations(database))[0].current_question == "comment"


async def test_a_changed_earlier_answer_moves_past_a_question_that_no_longer_applies(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    first = question_of(await customer.start("csat"))
    assert (asked := question_of(await customer.press("2", first))) is not None
    assert asked.question_id == "what_went_wrong"  # asked only when satisfaction <= 2
    reply = await customer.press("5", first)
    assert notices(reply) == [translate("answer_updated", "en")]
    assert (instead := question_of(reply)) is not None and instead.question_id == "comment"
    assert (await conversations(database))[0].current_question == "comment"
    still = await customer.press("1", first)  # back to a low score: "comment" no longer applies either
    assert (again := question_of(still)) is not None and again.question_id == "what_went_wrong"


async def test_an_earlier_button_after_the_survey_closed_is_politely_refused(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    first = question_of(await customer.start("csat"))
    await customer.press("4", first)
    await customer.press("skip")
    reply = await customer.press("1", first)
    refusal = reply.prompts[0]
    assert isinstance(refusal, Notice) and refusal.kind == NoticeKind.REFUSAL
    assert refusal.text == translate("survey_closed", "en")
    assert [answer.value for answer in await stored_answers(database)] == [4, None]
    assert await complaints(database) == []


FORGED_PRESSES = [
    ("someone else's survey", {"user": "mallory"}),
    ("an unknown conversation", {"conversation_id": 999_999}),
    ("an unknown question", {"question_id": "nope"}),
    ("a question not reached yet", {"question_id": "comment"}),
    ("a value off the scale", {"value": "9"}),
    ("skip on a required question", {"value": "skip"}),
    ("an Arabic-Indic digit", {"value": "\u0663"}),
    ("a fullwidth digit", {"value": "\uff13"}),
]


@pytest.mark.parametrize(("case", "forged"), FORGED_PRESSES, ids=[case for case, _ in FORGED_PRESSES])
async def test_forged_or_foreign_button_data_changes_nothing(
    engine: Engine, database: Database, case: str, forged: dict[str, Any]
) -> None:
    owner = Customer(engine)
    shown = question_of(await owner.start("csat"))
    assert shown is not None
    presser = Customer(engine, forged.get("user", "alice"))
    target = shown.model_copy(update={k: v for k, v in forged.items() if k in ("conversation_id", "question_id")})
    reply = await presser.press(forged.get("value", "4"), target)
    refusal = reply.prompts[0]
    assert isinstance(refusal, Notice) and refusal.kind == NoticeKind.REFUSAL
    assert refusal.text == translate("button_invalid", "en")
    assert await stored_answers(database) == []


async def test_the_same_event_twice_has_no_second_effect(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat", event_id="start-1")
    first = await customer.say("2", event_id="answer-1")
    again = await customer.say("2", event_id="answer-1")
    restart = await customer.start("csat", event_id="start-1")
    assert again.duplicate and not first.duplicate
    assert again.prompts == first.prompts
    assert restart.duplicate
    assert len(await stored_answers(database)) == 1
    assert len(await complaints(database)) == 1


async def test_a_redelivery_racing_the_first_delivery_applies_once(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    replies = await asyncio.gather(*(customer.say("3", event_id="raced") for _ in range(4)))
    assert sorted(reply.duplicate for reply in replies) == [False, True, True, True]
    assert len(await stored_answers(database)) == 1


async def test_surveys_opened_together_share_a_commit_and_a_redelivered_one_among_them_applies_once(
    engine: Engine, database: Database
) -> None:
    who = [Respondent("telegram", f"user-{number}", "en") for number in range(4)]
    first = await engine.handle(StartSurvey(who[0], "invitation-1", "csat"), grouped=True)
    starts = [StartSurvey(person, f"invitation-{number + 1}", "csat") for number, person in enumerate(who)]
    replies = await asyncio.gather(*(engine.handle(start, grouped=True) for start in starts))
    assert [reply.duplicate for reply in replies] == [True, False, False, False]
    assert replies[0].prompts == first.prompts
    assert all(question_of(reply) is not None for reply in replies)
    async with database.snapshot() as session:
        opened = (await session.exec(select(func.count()).select_from(Conversation))).one()
    assert opened == 4


async def test_customers_answer_concurrently_without_mixing_answers(engine: Engine, database: Database) -> None:
    customers = [Customer(engine, f"user-{number}") for number in range(8)]
    await asyncio.gather(*(customer.start("nps") for customer in customers))
    await asyncio.gather(*(customer.say(str(number + 3)) for number, customer in enumerate(customers)))
    async with database.snapshot() as session:
        rows = await session.exec(
            select(Person.platform_id, Answer.value)
            .join(Conversation, col(Conversation.person_id) == Person.id)
            .join(Answer, col(Answer.conversation_id) == Conversation.id)
        )
        assert sorted(rows) == sorted((f"user-{number}", number + 3) for number in range(8))


async def test_a_new_reference_starts_the_survey_afresh(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER1")
    await customer.start("csat", reference="ORDER2")
    await customer.start("csat", reference="X" * 300)
    assert [(c.reference, c.status) for c in await conversations(database)] == [
        ("ORDER1", "partial"),
        ("ORDER2", "partial"),
        ("X" * 128, "open"),
    ]


async def test_the_complaint_holds_the_customers_current_words(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("2")
    await customer.say("The courier was rude", message_ref="m1")
    await customer.edit("m1", "The courier was late")
    [complaint] = await complaints(database)
    assert complaint.text == "The courier was late"


async def test_one_open_survey_per_person_and_channel(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    resumed = await customer.start("csat")
    assert notices(resumed) == [translate("survey_resumed", "en")]
    assert (question := question_of(resumed)) is not None and question.question_id == "satisfaction"
    await customer.say("4")
    replaced = await customer.start("nps")
    assert translate("survey_replaced", "en") in notices(replaced)
    elsewhere = Customer(engine, channel="other")
    await elsewhere.start("ces")
    states = [(c.survey_id, c.channel, c.status) for c in await conversations(database)]
    assert states == [("csat", "test", "partial"), ("nps", "test", "open"), ("ces", "other", "open")]
    assert len(await stored_answers(database)) == 1  # the replaced survey keeps its answer


async def test_an_expired_survey_closes_as_partial_and_keeps_its_answers(
    engine: Engine, database: Database, clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("5")
    clock.advance(hours=73)
    reply = await customer.say("lovely")
    assert notices(reply) == [translate("survey_expired", "en")]
    [conversation] = await conversations(database)
    assert conversation.status == ConversationStatus.PARTIAL
    assert conversation.closed_at == clock.now
    assert [answer.value for answer in await stored_answers(database)] == [5]


async def test_the_sweep_closes_every_overdue_survey(engine: Engine, database: Database, clock: Clock) -> None:
    await Customer(engine, "a").start("ces")  # expires after 48 h
    await Customer(engine, "b").start("nps")  # expires after 168 h
    clock.advance(hours=49)
    assert await engine.conversations.expire_overdue() == 1
    assert [c.status for c in await conversations(database)] == ["partial", "open"]


@pytest.mark.parametrize(
    ("survey_id", "score", "complaint"),
    [("csat", "2", True), ("csat", "3", False), ("nps", "6", True), ("nps", "7", False), ("ces", "3", True)],
)
async def test_a_score_at_or_below_the_threshold_opens_a_complaint(
    engine: Engine, database: Database, survey_id: str, score: str, complaint: bool
) -> None:
    customer = Customer(engine)
    await customer.start(survey_id, reference="ORDER123")
    reply = await customer.say(score)
    opened = [prompt for prompt in reply.prompts if isinstance(prompt, ComplaintOpened)]
    assert bool(opened) == complaint
    stored = await complaints(database)
    assert [(c.reasons, c.survey_id, c.reference) for c in stored] == (
        [("low_score", survey_id, "ORDER123")] if complaint else []
    )


async def test_the_customers_words_join_the_complaint_their_score_opened(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("1")
    await customer.say("The courier was rude and my parcel arrived broken.")
    [complaint] = await complaints(database)
    assert complaint.reasons.startswith("low_score")
    assert complaint.text == "The courier was rude and my parcel arrived broken."
    assert complaint.polarity is not None and complaint.polarity < 0


async def test_negative_text_after_a_good_score_opens_a_complaint(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("4")
    reply = await customer.say("The support agent was rude and the app is terrible.")
    assert any(isinstance(prompt, ComplaintOpened) for prompt in reply.prompts)
    [complaint] = await complaints(database)
    assert complaint.reasons == "negative_text"
    [_, comment] = await stored_answers(database)
    assert comment.polarity is not None and comment.polarity < 0 and comment.subjectivity is not None


async def test_text_in_an_unsupported_language_opens_no_complaint_from_text(engine: Engine, database: Database) -> None:
    customer = Customer(engine, language="ru")
    await customer.start("csat")
    await customer.say("4")
    await customer.say("Курьер опоздал, посылка пришла сломанной.")
    assert await complaints(database) == []
    [_, comment] = await stored_answers(database)
    assert comment.sentiment_label == "unknown"


async def test_an_explicit_complaint_is_stored_at_once(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    empty = await customer.complain("  ")
    reply = await customer.complain("I was charged twice for one order.")
    assert notices(empty) == [translate("complaint_empty", "en")]
    [opened] = reply.prompts
    assert isinstance(opened, ComplaintOpened) and opened.reasons == ["explicit"]
    [complaint] = await complaints(database)
    assert (complaint.reasons, complaint.text, complaint.conversation_id) == (
        "explicit",
        "I was charged twice for one order.",
        None,
    )


async def test_an_anonymous_survey_stores_nobody(engine: Engine, database: Database) -> None:
    customer = Customer(engine, user_id="U123SECRET")
    await customer.start("internal-service")
    for typed in ("1", "1", "1", "Nobody answers tickets."):
        await customer.say(typed)
    async with database.snapshot() as session:
        assert (await session.exec(select(func.count()).select_from(Person))).one() == 0
    [conversation] = await conversations(database)
    assert conversation.person_id is None and conversation.anonymous
    [complaint] = await complaints(database)
    assert complaint.person_id is None


async def test_nothing_links_an_anonymous_conversation_to_the_same_persons_named_ones(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine, user_id="U123SECRET")
    await customer.start("nps")
    await customer.say("9")
    await customer.start("internal-service")  # replaces the open nps survey
    await customer.say("1")
    open_anonymous = await conversations(database)
    await customer.say("2")
    await customer.say("3")
    await customer.say("Nobody answers tickets.")
    named, anonymous = await conversations(database)
    assert named.person_id is not None and anonymous.person_id is None
    assert open_anonymous[1].respondent_key != named.respondent_key  # not even while it was open
    assert anonymous.respondent_key == f"closed-{anonymous.id}"  # and nothing at all once closed
    async with database.snapshot() as session:
        keys = list(await session.exec(select(InboundEvent.respondent_key)))
    assert anonymous.respondent_key not in keys and open_anonymous[1].respondent_key not in keys


async def test_a_restarted_engine_resumes_every_open_survey_at_its_question(
    engine: Engine, database_url: str, surveys: dict[str, Survey], clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("4")
    fresh_database = Database(database_url)
    try:
        restarted = Engine(
            database=fresh_database,
            surveys=surveys,
            analyzer=make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD),
            hash_key=b"test-key",
            clock=clock,
        )
        reply: Reply = await Customer(restarted).start("csat")
        question = question_of(reply)
        assert isinstance(question, QuestionPrompt) and question.question_id == "comment"
        done = await Customer(restarted).say("skip")
        assert notices(done) == ["Thank you for your feedback!"]
    finally:
        await fresh_database.close()


async def test_an_unknown_survey_gets_the_list(engine: Engine) -> None:
    reply = await Customer(engine).start("nope")
    assert reply.prompts[0].text == translate(
        "survey_unknown", "en", survey="nope", available="ces, csat, internal-service, nps"
    )


async def test_typing_without_an_open_survey_lists_the_surveys(engine: Engine) -> None:
    reply = await Customer(engine).say("hello")
    assert notices(reply) == [translate("no_open_survey", "en", available="ces, csat, internal-service, nps")]


async def test_a_submitted_form_is_stored_as_a_completed_survey(engine: Engine, database: Database) -> None:
    customer = Customer(engine, user_id="U42")
    answers = {"service": "facilities", "quality": "2", "speed": "1", "comment": "The heating is broken again"}
    reply = await engine.handle(SubmitSurvey(customer.who, "form-1", "internal-service", answers, anonymous=False))
    assert notices(reply)[-1] == "Thanks! Your feedback goes to the team anonymously."
    [conversation] = await conversations(database)
    assert (conversation.status, conversation.anonymous, conversation.person_id is not None) == (
        "completed",
        False,
        True,
    )
    stored = [(a.question_id, a.value, a.choice, a.text) for a in await stored_answers(database)]
    assert stored == [
        ("service", None, "facilities", None),
        ("quality", 2, None, None),
        ("speed", 1, None, None),
        ("comment", None, None, "The heating is broken again"),
    ]
    [complaint] = await complaints(database)
    assert complaint.reasons.startswith("low_score")


async def test_a_form_with_a_bad_or_missing_answer_stores_nothing(engine: Engine, database: Database) -> None:
    who = Customer(engine).who
    missing = await engine.handle(SubmitSurvey(who, "form-1", "internal-service", {"service": "hr"}))
    forged = await engine.handle(SubmitSurvey(who, "form-2", "internal-service", {"service": "hr", "quality": "9"}))
    hint = missing.prompts[0]
    assert isinstance(hint, Notice) and hint.question_id == "quality"
    assert hint.text.endswith(translate("hint_required", "en"))
    assert forged.prompts[0].text.endswith(translate("button_invalid", "en"))
    assert await conversations(database) == []


async def test_an_anonymous_form_keeps_no_person_and_no_message_address(engine: Engine, database: Database) -> None:
    who = Customer(engine, user_id="U-SECRET").who
    answers = {"service": "hr", "quality": "5", "speed": "5"}
    await engine.handle(SubmitSurvey(who, "form-1", "internal-service", answers, anonymous=True))
    [conversation] = await conversations(database)
    assert conversation.person_id is None and conversation.anonymous
    assert conversation.respondent_key == f"closed-{conversation.id}"
    async with database.snapshot() as session:
        assert list(await session.exec(select(Person))) == []
