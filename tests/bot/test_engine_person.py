"""What a person does beyond answering: edits, non-text messages, language, opting out, being forgotten."""

from __future__ import annotations

from sqlmodel import select

from bot.engine import Engine
from bot.events import Forget, NotText, OptOut, SetLanguage
from bot.i18n import translate
from storage.db import Database
from storage.models import Answer, Complaint, Conversation, Person
from tests.bot.customer import Customer, complaints, conversations, notices, question_of, stored_answers
from tests.conftest import Clock


async def test_editing_a_typed_answer_updates_it_while_the_survey_is_open(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("8", message_ref="chat:1")
    reply = await customer.edit("chat:1", "10")
    assert notices(reply) == [translate("answer_updated", "en")]
    assert [answer.value for answer in await stored_answers(database)] == [10]
    bad = await customer.edit("chat:1", "eleven")
    assert bad.prompts[0].text == translate("hint_number", "en", low=0, high=10)
    assert [answer.value for answer in await stored_answers(database)] == [10]


async def test_an_edit_after_expiry_or_of_no_answer_changes_nothing(
    engine: Engine, database: Database, clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("9", message_ref="chat:1")
    await customer.say("Great support", message_ref="chat:2")
    corrected = await customer.edit("chat:2", "Great support!")
    assert notices(corrected) == [translate("answer_updated", "en")]
    clock.advance(hours=169)
    closed = await customer.edit("chat:2", "Terrible support")
    unrelated = await customer.edit("chat:99", "hello")
    foreign = await Customer(engine, "mallory").edit("chat:1", "0")
    assert notices(closed) == [translate("survey_closed", "en")]
    assert unrelated.prompts == [] and foreign.prompts == []
    assert [(a.value, a.text) for a in await stored_answers(database)] == [(9, None), (None, "Great support!")]


async def test_a_sticker_gets_a_one_line_hint_in_the_persons_language(engine: Engine) -> None:
    customer = Customer(engine, language="es")
    reply = await customer.engine.handle(NotText(customer.who, customer.next_event_id()))
    assert notices(reply) == [translate("hint_not_text", "es")]


async def test_a_chosen_language_applies_to_the_open_survey_and_later_ones(engine: Engine, database: Database) -> None:
    customer = Customer(engine, language="en")
    await customer.start("csat")
    reply = await customer.send(SetLanguage, "ru")
    assert notices(reply)[0] == translate("language_set", "ru")
    question = question_of(reply)
    assert question is not None and question.text == "Насколько вы довольны нашим сервисом?"
    await customer.say("5")
    await customer.say("skip")
    later = await customer.start("nps")
    assert (asked := question_of(later)) is not None and asked.low_label == "Совсем маловероятно"


async def test_opting_out_closes_the_open_survey_until_the_person_starts_one(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    reply = await customer.send(OptOut)
    assert notices(reply) == [translate("opted_out", "en")]
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() is True
    assert [c.status for c in await conversations(database)] == ["partial"]
    await customer.start("csat")
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() is False


async def test_forgetting_removes_personal_data_and_keeps_anonymous_scores(engine: Engine, database: Database) -> None:
    customer = Customer(engine, user_id="U-4242")
    await customer.start("csat", reference="ORDER-99")
    await customer.say("1", message_ref="chat:7")
    await customer.say("Your courier Bob Smith threw my parcel", message_ref="chat:8")
    await customer.complain("Call me on +1 555 0100, nobody answers")
    other = Customer(engine, user_id="U-other")
    await other.start("nps", reference="ORDER-1")
    reply = await customer.send(Forget)
    assert notices(reply) == [translate("forgotten", "en")]

    async with database.snapshot() as session:
        assert list(await session.exec(select(Person.platform_id))) == ["U-other"]
    answers = await stored_answers(database)
    assert [(a.question_id, a.value, a.text, a.message_ref) for a in answers] == [
        ("satisfaction", 1, None, None),
        ("what_went_wrong", None, None, None),
    ]
    assert answers[1].polarity is not None  # the sentiment stays in the aggregates
    [mine, theirs] = await conversations(database)
    assert (mine.person_id, mine.reference) == (None, None)
    assert mine.respondent_key != engine.keys.respondent_key(customer.who)
    assert theirs.reference == "ORDER-1" and theirs.person_id is not None
    assert [(c.text, c.person_id, c.reference) for c in await complaints(database)] == [(None, None, None)] * 2
    dump = await everything_stored(database)
    for secret in ("U-4242", "ORDER-99", "Bob Smith", "555 0100", "chat:7"):
        assert secret not in dump


async def everything_stored(database: Database) -> str:
    """Every value of every row of the tables that hold people's data, as one text."""
    async with database.snapshot() as session:
        rows = [
            row.model_dump_json()
            for table in (Person, Conversation, Answer, Complaint)
            for row in await session.exec(select(table))
        ]
    return "\n".join(rows)
