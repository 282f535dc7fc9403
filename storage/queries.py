"""Query functions: module-level, keyword-only, session first."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Insert,
    String,
    and_,
    bindparam,
    case,
    cast,
    insert,
    literal,
    or_,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import webhooks
from storage.models import (
    OPEN_CASE_STATUSES,
    Answer,
    CaseEvent,
    CaseStatus,
    Complaint,
    Conversation,
    ConversationStatus,
    InboundEvent,
    Invitation,
    InvitationState,
    OutboxMessage,
    Person,
)
from storage.types import utcnow

IS_OPEN = text(f"conversation.status = '{ConversationStatus.OPEN}'")
# The statements every update runs are built once, with bound parameters: building one costs more CPU than
# SQLAlchemy's cached compilation and the database's work together.
PERSON = select(Person).where(Person.channel == bindparam("channel"), Person.platform_id == bindparam("platform_id"))


async def get_person(session: AsyncSession, *, channel: str, platform_id: str) -> Person | None:
    return (await session.exec(PERSON, params={"channel": channel, "platform_id": platform_id})).first()


async def get_or_create_person(
    session: AsyncSession, *, channel: str, platform_id: str, language: str | None
) -> Person:
    """The person, created on first contact; a language their client reports fills a missing one."""
    person = await get_person(session, channel=channel, platform_id=platform_id)
    if person is None:
        person = Person(channel=channel, platform_id=platform_id, language=language)
        session.add(person)
        await session.flush()
    elif person.language is None and language is not None:
        person.language = language
    return person


OPEN_CONVERSATION = select(Conversation).where(
    col(Conversation.channel) == bindparam("channel"),
    col(Conversation.respondent_key).in_(bindparam("respondent_keys", expanding=True)),
    IS_OPEN,  # literal, so that the partial index of open conversations serves the lookup
)


async def get_open_conversation(
    session: AsyncSession, *, channel: str, respondent_keys: list[str]
) -> Conversation | None:
    params = {"channel": channel, "respondent_keys": respondent_keys}
    return (await session.exec(OPEN_CONVERSATION, params=params)).first()


class LoadedConversation(NamedTuple):
    conversation: Conversation
    answers: list[Answer]
    complaint: Complaint | None


WITH_ANSWERS = (
    select(Conversation, Answer, Complaint)
    .outerjoin(Answer, col(Answer.conversation_id) == Conversation.id)
    .outerjoin(Complaint, col(Complaint.conversation_id) == Conversation.id)
    .order_by(col(Conversation.id), col(Answer.id))
)
OPEN_WITH_ANSWERS = WITH_ANSWERS.where(
    col(Conversation.channel) == bindparam("channel"),
    col(Conversation.respondent_key).in_(bindparam("respondent_keys", expanding=True)),
    IS_OPEN,  # literal, so that the partial index of open conversations serves the lookup
)
ONE_WITH_ANSWERS = WITH_ANSWERS.where(col(Conversation.id) == bindparam("conversation_id"))


async def load_open_conversation(
    session: AsyncSession, *, channel: str, respondent_keys: list[str]
) -> LoadedConversation | None:
    """The open conversation with its answers and complaint, in one statement, detached (see _loaded)."""
    params = {"channel": channel, "respondent_keys": respondent_keys}
    return _loaded(session, list(await session.exec(OPEN_WITH_ANSWERS, params=params)))


async def load_conversation(session: AsyncSession, *, conversation_id: int) -> LoadedConversation | None:
    """The conversation with its answers and complaint, in one statement, detached (see _loaded)."""
    return _loaded(session, list(await session.exec(ONE_WITH_ANSWERS, params={"conversation_id": conversation_id})))


def _loaded(
    session: AsyncSession, rows: list[tuple[Conversation, Answer | None, Complaint | None]]
) -> LoadedConversation | None:
    """The rows leave the session: the answer path writes what it changes of them itself, with Core statements
    (save_answer, save_progress, storage.cases.save_case_words...), which cost a fraction of the ORM's flush."""
    if not rows:
        return None
    conversation, _, complaint = rows[0]
    answers = [answer for owner, answer, _ in rows if owner is conversation and answer is not None]
    for row in (conversation, *answers, *([complaint] if complaint else [])):
        session.expunge(row)
    return LoadedConversation(conversation, answers, complaint)


async def get_answers(session: AsyncSession, *, conversation_id: int) -> list[Answer]:
    statement = select(Answer).where(Answer.conversation_id == conversation_id).order_by(col(Answer.id))
    return list(await session.exec(statement))


# What replaces an anonymous conversation's respondent hash when it closes, followed by its id: once closed, nothing
# links it to whoever answered.
CLOSED_KEY_PREFIX = "closed-"


def close_conversation(conversation: Conversation, *, now: datetime, status: ConversationStatus) -> None:
    """Closes the conversation; an anonymous one drops its respondent hash. The one closing rule, also applied in
    bulk by close_expired_conversations."""
    if conversation.anonymous:
        conversation.respondent_key = f"{CLOSED_KEY_PREFIX}{conversation.id}"
    conversation.status = status
    conversation.closed_at = now
    conversation.updated_at = now
    conversation.current_question = None


@cache
def _inserting(model: type[SQLModel]) -> tuple[Insert, list[str]]:
    """The model's INSERT returning its new id, built once, and the columns it writes."""
    table = model.__table__  # type: ignore[attr-defined]
    return insert(table).returning(*table.primary_key.columns), [c.key for c in table.columns if not c.primary_key]


async def insert_row(session: AsyncSession, row: SQLModel) -> int:
    """Inserts the row with a Core statement and returns its new id; the row stays out of the session. For the rows
    the answer path adds, where the ORM's flush would cost more than the write."""
    statement, columns = _inserting(type(row))
    result = await (await session.connection()).execute(statement, {column: getattr(row, column) for column in columns})
    new_id: int = result.scalar_one()
    return new_id


async def add_conversation(session: AsyncSession, conversation: Conversation) -> Conversation:
    """Stores a new conversation in the transaction, with its id. A Core statement, as every survey opens with it:
    like those loaded for answering, the conversation stays out of the session, and save_progress writes what
    changes of it."""
    conversation.id = await insert_row(session, conversation)
    return conversation


async def free_survey_slot(session: AsyncSession, conversation: Conversation, *, now: datetime) -> None:
    """Closes the open conversation as partial and writes that at once: the person's one open survey (a unique
    index) may then be followed by a new one in the same transaction."""
    close_conversation(conversation, now=now, status=ConversationStatus.PARTIAL)
    await session.flush()


async def close_expired_conversations(session: AsyncSession, *, now: datetime) -> int:
    """Closes every open conversation past its expiry as partial, as close_conversation would; returns how many."""
    statement = (
        update(Conversation)
        .where(col(Conversation.status) == ConversationStatus.OPEN, col(Conversation.expires_at) <= now)
        .values(
            status=ConversationStatus.PARTIAL,
            closed_at=now,
            current_question=None,
            updated_at=now,
            respondent_key=case(
                (col(Conversation.anonymous), literal(CLOSED_KEY_PREFIX) + cast(Conversation.id, String)),
                else_=col(Conversation.respondent_key),
            ),
        )
    )
    result: CursorResult[tuple[()]] = await session.exec(statement)
    return result.rowcount


INSERT_ANSWER = insert(Answer).returning(col(Answer.id))
UPDATE_ANSWER = update(Answer).where(col(Answer.id) == bindparam("answer_id"))


async def save_answer(
    session: AsyncSession,
    stored: Answer | None,
    *,
    conversation_id: int,
    question_id: str,
    kind: str,
    now: datetime,
    fields: dict[str, Any],
) -> Answer:
    """The question's answer with `fields` written over it: the `stored` one (detached, see _loaded) or a new one.
    A Core statement, as every answer runs it."""
    connection = await session.connection()
    if stored is not None:
        await connection.execute(UPDATE_ANSWER, {"answer_id": stored.id, **fields})
        stored.sqlmodel_update(fields)
        return stored
    row = {"conversation_id": conversation_id, "question_id": question_id, "kind": kind, "answered_at": now, **fields}
    return Answer(id=(await connection.execute(INSERT_ANSWER, row)).scalar_one(), **row)


# What answering changes of a conversation: where it stands, whether it is closed, and since when.
SAVE_PROGRESS = update(Conversation).where(col(Conversation.id) == bindparam("conversation_id"))


async def save_progress(session: AsyncSession, conversation: Conversation) -> None:
    """Writes what answering changes of a conversation loaded detached (see _loaded), in one Core statement."""
    progress = {
        "status": conversation.status,
        "current_question": conversation.current_question,
        "has_complaint": conversation.has_complaint,
        "respondent_key": conversation.respondent_key,
        "updated_at": conversation.updated_at,
        "closed_at": conversation.closed_at,
    }
    await (await session.connection()).execute(SAVE_PROGRESS, {"conversation_id": conversation.id, **progress})


async def find_answer_by_message(
    session: AsyncSession, *, message_ref: str, respondent_keys: list[str]
) -> tuple[Answer, Conversation] | None:
    """The answer a message gave, if the message is the respondent's."""
    statement = (
        select(Answer, Conversation)
        .join(Conversation, col(Conversation.id) == Answer.conversation_id)
        .where(Answer.message_ref == message_ref, col(Conversation.respondent_key).in_(respondent_keys))
    )
    row = (await session.exec(statement)).first()
    return (row[0], row[1]) if row else None


RECORD_EVENT = insert(InboundEvent)


async def record_event(
    connection: AsyncConnection, *, channel: str, event_id: str, respondent_key: str | None, reply: str
) -> None:
    """A Core statement: every event ends with it, and the ORM's unit of work would cost more than the insert."""
    values = {"respondent_key": respondent_key, "reply": reply, "delivered": 0, "received_at": utcnow()}
    await connection.execute(RECORD_EVENT, {"channel": channel, "event_id": event_id, **values})


async def get_event(session: AsyncSession, *, channel: str, event_id: str) -> InboundEvent | None:
    """The once-only record of a platform event, if it was applied."""
    statement = select(InboundEvent).where(InboundEvent.channel == channel, InboundEvent.event_id == event_id)
    return (await session.exec(statement)).first()


MARK_DELIVERED = (
    update(InboundEvent)
    .where(col(InboundEvent.channel) == bindparam("of_channel"), col(InboundEvent.event_id) == bindparam("of_event"))
    .values(delivered=bindparam("count"))
)


async def mark_delivered(connection: AsyncConnection, *, channel: str, event_id: str, count: int) -> None:
    """A Core statement on a bare connection: it runs after every message sent, so it skips the ORM."""
    await connection.execute(MARK_DELIVERED, {"of_channel": channel, "of_event": event_id, "count": count})


async def set_reachable(session: AsyncSession, *, channel: str, platform_id: str, reachable: bool) -> None:
    statement = (
        update(Person)
        .where(col(Person.channel) == channel, col(Person.platform_id) == platform_id)
        .values(unreachable=not reachable)
    )
    await session.exec(statement)


async def unreachable_ids(session: AsyncSession, *, channel: str) -> set[str]:
    statement = select(Person.platform_id).where(Person.channel == channel, col(Person.unreachable).is_(True))
    return set(await session.exec(statement))


FORGOTTEN_REPLY = '{"prompts": []}'  # what a redelivered event of a forgotten person gets: nothing


async def forget_respondent(
    session: AsyncSession, *, channel: str, platform_id: str, respondent_keys: list[str]
) -> None:
    """Removes what identifies a person; scores and sentiment stay as anonymous aggregates."""
    person = await get_person(session, channel=channel, platform_id=platform_id)
    owned: ColumnElement[bool] = col(Conversation.respondent_key).in_(respondent_keys)
    if person is not None:
        owned = or_(owned, col(Conversation.person_id) == person.id)
    conversation_ids = list(await session.exec(select(Conversation.id).where(owned)))
    await session.exec(
        update(Answer).where(col(Answer.conversation_id).in_(conversation_ids)).values(text=None, message_ref=None)
    )
    for conversation in await session.exec(select(Conversation).where(owned)):
        # A random key, so nothing links these answers to the person any more.
        conversation.sqlmodel_update(
            {"respondent_key": f"forgotten-{uuid.uuid4().hex}", "person_id": None, "reference": None}
        )
    concerned: ColumnElement[bool] = col(Complaint.conversation_id).in_(conversation_ids)
    if person is not None:
        concerned = or_(concerned, col(Complaint.person_id) == person.id)
    case_ids = [case_id for case_id in await session.exec(select(Complaint.id).where(concerned))]
    await _erase_case_messages(session, case_ids)
    await webhooks.erase_person_from_events(
        session,
        conversation_ids=[number for number in conversation_ids if number is not None],
        case_ids=[number for number in case_ids if number is not None],
    )
    await session.exec(update(Complaint).where(concerned).values(text=None, reference=None, person_id=None))
    # Their events stay recorded, so that a late redelivery is not applied again, but name nobody and answer nothing.
    await session.exec(
        update(InboundEvent)
        .where(col(InboundEvent.respondent_key).in_(respondent_keys))
        .values(respondent_key=None, reply=FORGOTTEN_REPLY)
    )
    if person is not None:
        await _drop_invitations(session, person)
        await session.delete(person)


async def _drop_invitations(session: AsyncSession, person: Person) -> None:
    """Invitations still waiting are settled as skipped, every invitation loses its reference and attributes (the
    funnel keeps its count), and the messages addressed to the person (which name their platform id) are dropped,
    sent or not: none goes out after /forget, and none keeps their id."""
    theirs = col(Invitation.person_id) == person.id
    await session.exec(
        update(Invitation)
        .where(theirs, col(Invitation.state) == InvitationState.INVITED)
        .values(state=InvitationState.SKIPPED, reason="the person was forgotten at their request")
    )
    await session.exec(update(Invitation).where(theirs).values(reference=None, attributes=None))
    addressed = select(OutboxMessage).where(
        OutboxMessage.channel == person.channel, col(OutboxMessage.payload).contains(person.platform_id)
    )
    for message in await session.exec(addressed):
        if json.loads(message.payload).get("platform_id") == person.platform_id:
            await session.delete(message)


# How the trail and the staff thread show a customer's reply to staff, and what stays of it after /forget.
CUSTOMER_REPLY = "the customer replied: "
ERASED_REPLY = "the customer replied (erased at their request)"


async def _erase_case_messages(session: AsyncSession, case_ids: list[int | None]) -> None:
    """The customer's replies on their cases' trails and staff messages are erased, and the messages addressed to
    them (which name their platform id) dropped, sent or not."""
    if not case_ids:
        return
    await session.exec(
        update(CaseEvent)
        .where(
            col(CaseEvent.complaint_id).in_(case_ids),
            col(CaseEvent.actor) == "customer",
            col(CaseEvent.action) == "replied",
        )
        .values(detail=ERASED_REPLY)
    )
    for message in await session.exec(select(OutboxMessage).where(col(OutboxMessage.case_id).in_(case_ids))):
        payload = json.loads(message.payload)
        if "platform_id" in payload:
            await session.delete(message)
        elif str(payload.get("line", "")).startswith(CUSTOMER_REPLY):
            message.payload = json.dumps(payload | {"line": ERASED_REPLY})


async def list_cases(
    session: AsyncSession, *, status: str | None, overdue_at: datetime | None, limit: int, before_id: int | None = None
) -> list[Complaint]:
    """Cases, newest first; `overdue_at`: only open ones past a due time at that moment; `before_id`: only older
    ones than that case (the next page)."""
    statement = select(Complaint).order_by(col(Complaint.id).desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(col(Complaint.id) < before_id)
    if status is not None:
        statement = statement.where(Complaint.status == status)
    if overdue_at is not None:
        unacknowledged = and_(col(Complaint.acknowledged_at).is_(None), col(Complaint.due_ack_at) < overdue_at)
        unresolved = and_(col(Complaint.resolved_at).is_(None), col(Complaint.due_resolve_at) < overdue_at)
        statement = statement.where(col(Complaint.status).in_(OPEN_CASE_STATUSES), or_(unacknowledged, unresolved))
    return list(await session.exec(statement))


async def case_awaiting_reply(session: AsyncSession, *, person_id: int) -> Complaint | None:
    """The person's newest case whose staff wrote to them and wait for an answer (also once resolved)."""
    statement = (
        select(Complaint)
        .where(
            Complaint.person_id == person_id,
            col(Complaint.awaiting_reply).is_(True),
            Complaint.status != CaseStatus.CLOSED,
        )
        .order_by(col(Complaint.id).desc())
    )
    return (await session.exec(statement)).first()


async def resolved_cases_for(session: AsyncSession, *, follow_up_key: str) -> list[Complaint]:
    statement = select(Complaint).where(
        Complaint.follow_up_key == follow_up_key, Complaint.status == CaseStatus.RESOLVED
    )
    return list(await session.exec(statement.order_by(col(Complaint.id))))
