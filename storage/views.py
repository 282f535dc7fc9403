"""Read models: what the edges show (App Home, the staff alerts, `cases list/show`, the export), built by the
queries below from the tables. Frozen values, so that no ORM row, with its session and lazy loads, leaves storage/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import sqlalchemy
from sqlalchemy import case
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import queries
from storage.models import (
    OPEN_CASE_STATUSES,
    Answer,
    CaseEvent,
    CaseStatus,
    Complaint,
    ComplaintReason,
    Conversation,
    Person,
)

EXPORT_BATCH_ROWS = 1000


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as staff and customers see it. The names are those of the `Complaint` columns they come from."""

    id: int
    status: CaseStatus
    priority: str
    category: str | None
    reasons: tuple[ComplaintReason, ...]  # what made it a complaint, first trigger first
    polarity: float | None  # of the customer's words
    channel: str  # where the customer answered
    person_id: int | None  # None: the customer is anonymous or was forgotten, and cannot be written to
    conversation_id: int | None  # the survey answered, if the complaint came from one
    survey_id: str | None
    reference: str | None
    text: str | None  # the customer's own words: untrusted
    assignee: str | None
    escalations: int  # how often it was escalated
    corrective_action: str | None
    root_cause: str | None
    created_at: datetime
    due_ack_at: datetime | None
    due_resolve_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        """Whether staff still have to act on it (see OPEN_CASE_STATUSES)."""
        return self.status in OPEN_CASE_STATUSES


def case_view(case: Complaint) -> CaseView:
    """The read model of a stored case."""
    assert case.id is not None, "a case is shown once stored"
    return CaseView(
        id=case.id,
        status=CaseStatus(case.status),
        priority=case.priority,
        category=case.category,
        reasons=tuple(ComplaintReason(reason) for reason in case.reasons.split(",") if reason),
        polarity=case.polarity,
        channel=case.channel,
        person_id=case.person_id,
        conversation_id=case.conversation_id,
        survey_id=case.survey_id,
        reference=case.reference,
        text=case.text,
        assignee=case.assignee,
        escalations=case.escalations,
        corrective_action=case.corrective_action,
        root_cause=case.root_cause,
        created_at=case.created_at,
        due_ack_at=case.due_ack_at,
        due_resolve_at=case.due_resolve_at,
        acknowledged_at=case.acknowledged_at,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
    )


async def get_case(session: AsyncSession, *, case_id: int) -> CaseView | None:
    case = await session.get(Complaint, case_id)
    return None if case is None else case_view(case)


class CustomerView(NamedTuple):
    """What the channels need of a case's customer to write to them."""

    channel: str
    platform_id: str
    language: str | None  # None: never told, the default language applies


async def customer_of(session: AsyncSession, *, case: CaseView) -> CustomerView | None:
    """The case's customer; None when anonymous or forgotten."""
    person = await session.get(Person, case.person_id) if case.person_id is not None else None
    return None if person is None else CustomerView(person.channel, person.platform_id, person.language)


async def list_cases(
    session: AsyncSession,
    *,
    status: CaseStatus | None,
    overdue_at: datetime | None,
    limit: int,
    before_id: int | None = None,
) -> list[CaseView]:
    """Cases, newest first; `overdue_at`: only open ones past a due time at that moment; `before_id`: only older
    ones than that case."""
    cases = await queries.list_cases(session, status=status, overdue_at=overdue_at, limit=limit, before_id=before_id)
    return [case_view(case) for case in cases]


class OpenCases(NamedTuple):
    total: int
    newest: list[CaseView]


async def open_cases(session: AsyncSession, *, limit: int) -> OpenCases:
    """How many cases are open, and the newest of them."""
    is_open = col(Complaint.status).in_(OPEN_CASE_STATUSES)
    newest = await session.exec(select(Complaint).where(is_open).order_by(col(Complaint.id).desc()).limit(limit))
    return OpenCases(await count_open_cases(session), [case_view(case) for case in newest])


async def count_open_cases(session: AsyncSession) -> int:
    is_open = col(Complaint.status).in_(OPEN_CASE_STATUSES)
    return (await session.exec(select(func.count()).select_from(Complaint).where(is_open))).one()


async def oldest_open_cases(session: AsyncSession, *, limit: int) -> list[CaseView]:
    """The cases waiting longest for staff, oldest first (case numbers grow with time)."""
    is_open = col(Complaint.status).in_(OPEN_CASE_STATUSES)
    oldest = await session.exec(select(Complaint).where(is_open).order_by(col(Complaint.id)).limit(limit))
    return [case_view(case) for case in oldest]


class TrailLine(NamedTuple):
    """One step on a case's audit trail."""

    at: datetime
    actor: str  # a staff id, "customer" or "system"
    action: str
    detail: str | None


async def case_trail(session: AsyncSession, *, case_id: int) -> list[TrailLine]:
    statement = (
        select(CaseEvent.at, CaseEvent.actor, CaseEvent.action, CaseEvent.detail)
        .where(CaseEvent.complaint_id == case_id)
        .order_by(col(CaseEvent.id))
    )
    return [TrailLine(*row) for row in await session.exec(statement)]


class RecentAnswer(NamedTuple):
    """One of a person's answers, as App Home lists them."""

    survey_id: str
    question_id: str
    value: int | None
    choice: str | None
    text: str | None
    skipped: bool


async def recent_answers(session: AsyncSession, *, channel: str, platform_id: str, limit: int) -> list[RecentAnswer]:
    """A person's latest answers, newest first; anonymous answers name no person, so they are never among them."""
    statement = (
        select(Conversation.survey_id, Answer)
        .join(Answer, col(Answer.conversation_id) == Conversation.id)
        .join(Person, col(Person.id) == Conversation.person_id)
        .where(Person.channel == channel, Person.platform_id == platform_id)
        .order_by(col(Answer.id).desc())
        .limit(limit)
    )
    return [
        RecentAnswer(survey_id, answer.question_id, answer.value, answer.choice, answer.text, answer.skipped)
        for survey_id, answer in await session.exec(statement)
    ]


class AnswerRow(NamedTuple):
    """One answer with its conversation, as exported: the fields are the export's columns, in order."""

    survey: str
    conversation: int
    reference: str | None
    question: str
    kind: str
    value: int | None
    choice: str | None
    text: str | None
    skipped: bool
    polarity: float | None
    subjectivity: float | None
    sentiment: str | None
    person: str | None  # the platform id; None when anonymous
    channel: str
    language: str
    status: str
    started_at: datetime
    answered_at: datetime
    updated_at: datetime


async def answer_rows(
    session: AsyncSession, *, since: datetime | None, survey_id: str | None
) -> AsyncIterator[AnswerRow]:
    """Every answer joined with its conversation, oldest first, streamed in batches so that any volume fits. Plain
    columns, not ORM objects: an export reads every row once and builds no object it would then throw away."""
    statement = (
        sqlalchemy.select(*_EXPORT_COLUMNS)  # more columns than sqlmodel's select is typed for
        .join(Conversation, col(Conversation.id) == Answer.conversation_id)
        .outerjoin(Person, col(Person.id) == Conversation.person_id)
        .order_by(col(Answer.id))
        .execution_options(yield_per=EXPORT_BATCH_ROWS)
    )
    if since is not None:
        statement = statement.where(col(Answer.answered_at) >= since)
    if survey_id is not None:
        statement = statement.where(col(Conversation.survey_id) == survey_id)
    result = await session.stream(statement)
    async for batch in result.partitions():  # a batch at a time: fetching one row at a time would cost each a switch
        for row in batch:
            yield AnswerRow(*row)


# AnswerRow's fields, in its order.
_EXPORT_COLUMNS = (
    col(Conversation.survey_id),
    col(Conversation.id),
    col(Conversation.reference),
    col(Answer.question_id),
    col(Answer.kind),
    col(Answer.value),
    col(Answer.choice),
    col(Answer.text),
    col(Answer.skipped),
    col(Answer.polarity),
    col(Answer.subjectivity),
    col(Answer.sentiment_label),
    case((col(Conversation.anonymous), None), else_=col(Person.platform_id)),  # nobody, for an anonymous survey
    col(Conversation.channel),
    col(Conversation.language),
    col(Conversation.status),
    col(Conversation.started_at),
    col(Answer.answered_at),
    col(Answer.updated_at),
)
