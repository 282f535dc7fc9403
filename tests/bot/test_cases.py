"""Cases: triage when a complaint opens, its audit trail and staff alerts in the same transaction."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.cases import CaseDesk, CaseError, Cases, EventKey, StaffDestination, alert_text, suggest_category
from bot.config import CaseSettings
from bot.engine import Engine
from bot.events import Forget, SubmitSurvey
from storage.db import Database
from storage.models import CaseEvent, Complaint, OutboxMessage
from storage.views import case_view
from tests.bot.customer import Customer, question_of
from tests.conftest import Clock, database_dump

RULES = CaseSettings().categories


def test_the_category_comes_from_keyword_rules() -> None:
    assert suggest_category("The courier left it in the rain", RULES) == "delivery"
    assert suggest_category("I was charged twice", RULES) == "billing"
    assert suggest_category("Lovely weather", RULES) is None
    assert suggest_category(None, RULES) is None


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination("CSTAFF")})


@pytest.mark.parametrize(
    "desk", [CaseDesk(destinations={"slack": StaffDestination("CSTAFF"), "telegram": StaffDestination("-100123")})]
)
async def test_a_complaint_opens_a_triaged_case_with_its_trail_and_alerts(
    engine: Engine, database: Database, clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER-9")
    await customer.say("1")
    await customer.say("The courier threw my parcel over the fence")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
        opened, commented = await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))
        messages = list(await session.exec(select(OutboxMessage)))
    assert (case.status, case.priority, case.category) == ("new", "high", "delivery")  # the lowest score
    assert case.due_ack_at == clock.now + timedelta(minutes=60)
    assert case.due_resolve_at == clock.now + timedelta(hours=24)
    assert (opened.actor, opened.action, opened.at) == ("system", "opened", clock.now)
    # The score opened the case and alerted staff; the comment after it updates the alert (the words stay out of
    # the trail and the messages, so that /forget can erase them from the complaint alone).
    assert (commented.actor, commented.action, commented.detail) == (
        "customer",
        "answered",
        "the customer added a comment",
    )
    assert sorted((m.kind, m.channel, json.loads(m.payload)["target"]) for m in messages) == [
        ("case_alert", "slack", "CSTAFF"),
        ("case_alert", "telegram", "-100123"),
        ("case_update", "slack", "CSTAFF"),
        ("case_update", "telegram", "-100123"),
    ]
    assert alert_text(case_view(case)) == (
        "New complaint #1 (low_score; priority high, delivery, sentiment +0.00) from a test customer\n"
        "Survey: csat, reference ORDER-9\n“The courier threw my parcel over the fence”"
    )


async def test_mild_cases_get_more_time(engine: Engine, database: Database, clock: Clock) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("6")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
    assert (case.priority, case.due_ack_at) == ("normal", clock.now + timedelta(minutes=240))


@pytest.mark.parametrize("score", ["2", "3"])
async def test_the_same_words_make_the_same_priority_whether_the_score_opened_the_case_or_not(
    engine: Engine, database: Database, clock: Clock, score: str
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    opened_at = clock.now
    await customer.say(score)  # 2 opens a normal case at once; 3 opens none
    clock.advance(minutes=10)
    await customer.say("The courier was late and rude")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
    assert case.priority == "high"
    assert (case.due_ack_at, case.due_resolve_at) == (
        case.created_at + timedelta(minutes=60),
        case.created_at + timedelta(hours=24),
    )
    if score == "2":  # raised after the alert: on the trail, and the staff hear of it
        assert case.created_at == opened_at
        assert await trail(database) == [("system", "opened"), ("customer", "answered"), ("system", "reprioritised")]
        assert [u["line"] for u in outbox_of(await all_outbox(database), "case_update")] == [
            "the customer added a comment",
            "priority raised from normal to high",
        ]


async def test_a_kinder_comment_never_lowers_the_priority(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("1")  # the lowest score: high
    await customer.say("It was fine in the end, thank you")
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
    assert case.priority == "high"
    assert ("system", "reprioritised") not in await trail(database)


async def open_case(engine: Engine, user_id: str = "alice") -> int:
    customer = Customer(engine, user_id=user_id)
    await customer.start("csat")
    await customer.say("2")
    await customer.say("The parcel arrived late")
    return 1


def outbox_of(rows: list[OutboxMessage], kind: str) -> list[dict[str, object]]:
    return [json.loads(row.payload) for row in rows if row.kind == kind]


async def all_outbox(database: Database) -> list[OutboxMessage]:
    async with database.snapshot() as session:
        return list(await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


async def trail(database: Database) -> list[tuple[str, str]]:
    async with database.snapshot() as session:
        return [(e.actor, e.action) for e in await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))]


@pytest.fixture
def cases(database: Database, clock: Clock, desk: CaseDesk) -> Cases:
    return Cases(database, desk, clock)


async def test_a_case_goes_from_new_to_closed_with_every_step_on_its_trail(
    engine: Engine, database: Database, cases: Cases, clock: Clock
) -> None:
    case_id = await open_case(engine)
    await cases.acknowledge(case_id, "U-STAFF")
    await cases.assign(case_id, "U-STAFF", "U-FIXER")
    clock.advance(hours=1)
    case = await cases.resolve(
        case_id, "U-FIXER", corrective_action="Resent the parcel by courier", root_cause="supplier", message="Sorry!"
    )
    assert (case.status, case.resolved_at, case.root_cause) == ("resolved", clock.now, "supplier")
    [notice] = outbox_of(await all_outbox(database), "case_resolution")
    assert notice == {"kind": "case_resolution", "case_id": 1, "platform_id": "alice", "message": "Sorry!"}
    case = await cases.customer_answer(case_id, "test", "alice", resolved=True)
    assert (case.status, case.closed_at) == ("closed", clock.now)
    assert await trail(database) == [
        ("system", "opened"),
        ("customer", "answered"),  # the comment after the score
        ("U-STAFF", "acknowledged"),
        ("U-STAFF", "assigned"),
        ("U-FIXER", "resolved"),
        ("customer", "closed"),
    ]
    updates = outbox_of(await all_outbox(database), "case_update")
    assert [u["line"] for u in updates] == [
        "the customer added a comment",
        "acknowledged by U-STAFF",
        "assigned to U-FIXER by U-STAFF",
        "resolved by U-FIXER: Resent the parcel by courier (root cause: supplier)",
        "the customer confirmed it is resolved",
    ]


async def test_no_reopens_the_case_and_escalates_it(engine: Engine, database: Database, cases: Cases) -> None:
    case_id = await open_case(engine)
    await cases.resolve(case_id, "U-STAFF", corrective_action="Refunded", root_cause="process", message=None)
    case = await cases.customer_answer(case_id, "test", "alice", resolved=False)
    assert (case.status, case.escalations, case.resolved_at) == ("reopened", 1, None)
    [escalation] = outbox_of(await all_outbox(database), "case_escalation")
    assert escalation["line"] == "Case #1 escalated: reopened by the customer"
    await cases.acknowledge(case_id, "U-STAFF")  # a reopened case is worked on again
    await cases.resolve(case_id, "U-STAFF", corrective_action="Refunded again", root_cause="process", message=None)
    assert (await cases.customer_answer(case_id, "test", "alice", resolved=True)).status == "closed"


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("resolve-empty", "the corrective action taken is required"),
        ("resolve-cause", "the root cause must be one of"),
        ("answer-twice", "its outcome was already answered"),
        ("someone-else", "is not this person's"),
        ("unknown", "there is no case #99"),
    ],
)
async def test_refused_steps_change_nothing(
    engine: Engine, database: Database, cases: Cases, step: str, error: str
) -> None:
    case_id = await open_case(engine)
    before = await trail(database)
    with pytest.raises(CaseError, match=error):
        match step:
            case "resolve-empty":
                await cases.resolve(case_id, "U", corrective_action=" ", root_cause="process", message=None)
            case "resolve-cause":
                await cases.resolve(case_id, "U", corrective_action="x", root_cause="weather", message=None)
            case "answer-twice":
                await cases.customer_answer(case_id, "test", "alice", resolved=True)
            case "someone-else":
                await cases.resolve(case_id, "U", corrective_action="x", root_cause="process", message=None)
                before = await trail(database)
                await cases.customer_answer(case_id, "test", "mallory", resolved=True)
            case "unknown":
                await cases.acknowledge(99, "U")
    assert await trail(database) == before


async def test_an_overdue_case_escalates_again_no_more_often_than_the_reminder(
    engine: Engine, database: Database, cases: Cases, clock: Clock
) -> None:
    await open_case(engine)  # priority normal: acknowledge within 4 hours
    assert await cases.escalate_overdue() == 0
    clock.advance(hours=4, minutes=1)
    assert await cases.escalate_overdue() == 1
    clock.advance(minutes=30)
    assert await cases.escalate_overdue() == 0  # reminded less than an hour ago
    clock.advance(minutes=31)
    assert await cases.escalate_overdue() == 1
    await cases.acknowledge(1, "U-STAFF")
    clock.advance(hours=2)
    assert await cases.escalate_overdue() == 0  # acknowledged, and not yet due to be resolved
    escalations = outbox_of(await all_outbox(database), "case_escalation")
    assert [e["line"] for e in escalations] == ["Case #1 escalated: not acknowledged in time"] * 2


@pytest.mark.parametrize(
    "desk",
    [
        CaseDesk(
            destinations={
                "slack": StaffDestination("CSTAFF", escalation_target="CESCALATE", mention="<!subteam^S0123>"),
                "telegram": StaffDestination("-100123"),
            }
        )
    ],
)
async def test_an_escalation_goes_where_each_channel_asks_and_mentions_only_its_own_people(
    engine: Engine, database: Database, cases: Cases, clock: Clock
) -> None:
    await open_case(engine)
    clock.advance(hours=4, minutes=1)
    assert await cases.escalate_overdue() == 1
    escalations = [m for m in await all_outbox(database) if m.kind == "case_escalation"]
    assert sorted((m.channel, json.loads(m.payload)["target"], json.loads(m.payload)["line"]) for m in escalations) == [
        ("slack", "CESCALATE", "<!subteam^S0123> Case #1 escalated: not acknowledged in time"),
        ("telegram", "-100123", "Case #1 escalated: not acknowledged in time"),
    ]


async def test_staff_write_to_the_customer_and_the_reply_joins_the_case(
    engine: Engine, database: Database, cases: Cases
) -> None:
    case_id = await open_case(engine)
    await cases.contact(case_id, "U-STAFF", "Which address should we send a new parcel to?")
    [contact] = outbox_of(await all_outbox(database), "case_contact")
    assert contact == {
        "kind": "case_contact",
        "case_id": 1,
        "platform_id": "alice",
        "message": "Which address should we send a new parcel to?",
    }
    reply = await Customer(engine, user_id="alice").say("Elm Street 5, please")
    assert reply.prompts[0].text == "Thank you, your message went to the team handling your complaint."
    lines = [u["line"] for u in outbox_of(await all_outbox(database), "case_update")]
    assert lines[-1] == "the customer replied: Elm Street 5, please"
    assert await trail(database) == [
        ("system", "opened"),
        ("customer", "answered"),
        ("U-STAFF", "contacted"),
        ("customer", "replied"),
    ]
    unrelated = await Customer(engine, user_id="bob").say("hello?")
    assert "no survey open" in unrelated.prompts[0].text


async def test_forget_erases_the_customers_replies_and_the_messages_to_them(
    engine: Engine, database: Database, cases: Cases
) -> None:
    case_id = await open_case(engine)
    await cases.contact(case_id, "U-STAFF", "Which address should we send a new parcel to?")
    await cases.resolve(case_id, "U-STAFF", corrective_action="Resent", root_cause="supplier", message="Sorry!")
    alice = Customer(engine, user_id="alice")
    await alice.say("Elm Street 5, please")
    await alice.send(Forget)
    dump = await database_dump(database)
    assert "Elm Street" not in dump and "'alice'" not in dump and '"alice"' not in dump
    assert "the customer replied (erased at their request)" in dump
    assert await trail(database) == [
        ("system", "opened"),
        ("customer", "answered"),
        ("U-STAFF", "contacted"),
        ("U-STAFF", "resolved"),
        ("customer", "replied"),
    ]


async def test_an_anonymous_customer_cannot_be_written_to(engine: Engine, database: Database, cases: Cases) -> None:
    customer = Customer(engine)
    await customer.start("internal-service")
    await customer.say("1")
    await customer.say("1")
    with pytest.raises(CaseError, match="anonymous or forgotten"):
        await cases.contact(1, "U-STAFF", "Hello?")


async def test_a_changed_score_after_the_alert_reaches_the_staff(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    started = await customer.start("csat")
    await customer.say("1")
    await customer.press("4", question_of(started))  # the earlier question's buttons
    assert await trail(database) == [("system", "opened"), ("customer", "answered")]
    [update] = outbox_of(await all_outbox(database), "case_update")
    assert update == {
        "kind": "case_update",
        "case_id": 1,
        "target": "CSTAFF",
        "line": "the customer answered satisfaction: 4",
    }


async def test_the_same_answer_again_is_no_news(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    started = await customer.start("csat")
    await customer.say("1")
    await customer.press("1", question_of(started))  # a double tap, or a stale button
    assert await trail(database) == [("system", "opened")]
    assert [m.kind for m in await all_outbox(database)] == ["case_alert"]


async def test_news_reads_as_the_customer_answered(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("ces")
    await customer.say("1")  # the least easy: opens the case
    await customer.say("yes")
    await customer.say("The form kept losing what I typed", message_ref="m1")
    await customer.edit("m1", "The form kept losing what I typed, twice")
    lines = [u["line"] for u in outbox_of(await all_outbox(database), "case_update")]
    assert lines == [
        "the customer answered resolved: yes",
        "the customer added a comment",
        "the customer changed their comment",
    ]


async def test_a_form_that_opens_a_case_alerts_once_with_every_answer(engine: Engine, database: Database) -> None:
    answers = {"service": "facilities", "quality": "1", "speed": "1", "comment": "The heating is broken again"}
    await engine.handle(SubmitSurvey(Customer(engine).who, "form-1", "internal-service", answers, anonymous=False))
    assert await trail(database) == [("system", "opened")]
    assert [m.kind for m in await all_outbox(database)] == ["case_alert"]


async def test_a_step_given_its_event_again_changes_and_sends_nothing(
    engine: Engine, database: Database, cases: Cases
) -> None:
    """A redelivered staff press or reply: the case, its trail and the messages stay as the first delivery left them."""
    case_id = await open_case(engine)
    for _ in range(2):
        await cases.acknowledge(case_id, "U-STAFF", EventKey("slack", "press-1"))
        await cases.assign(case_id, "U-STAFF", "U-FIXER", EventKey("slack", "press-2"))
        await cases.contact(case_id, "U-FIXER", "Which address?", EventKey("slack", "form-1"))
        await cases.resolve(
            case_id,
            "U-FIXER",
            corrective_action="Resent",
            root_cause="supplier",
            message=None,
            event=EventKey("slack", "form-2"),
        )
        await cases.customer_answer(case_id, "test", "alice", resolved=False, event=EventKey("test", "press-3"))
    assert await trail(database) == [
        ("system", "opened"),
        ("customer", "answered"),
        ("U-STAFF", "acknowledged"),
        ("U-STAFF", "assigned"),
        ("U-FIXER", "contacted"),
        ("U-FIXER", "resolved"),
        ("customer", "reopened"),
        ("system", "escalated"),
    ]
    assert [m.kind for m in await all_outbox(database)] == [
        "case_alert",
        "case_update",
        "case_update",
        "case_update",
        "case_update",
        "case_contact",
        "case_update",
        "case_resolution",
        "case_update",
        "case_escalation",
    ]
