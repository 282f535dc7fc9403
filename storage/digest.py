"""The weekly digest's own reads, besides the report's aggregates: the oldest open cases and the root causes of the
cases resolved in a week. Neither reads a customer's words."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, false, func, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OPEN_CASE_STATUSES, Answer, Complaint, Conversation


class OpenCase(NamedTuple):
    number: int
    created_at: datetime
    survey_id: str | None
    channel: str
    service: str | None  # the option chosen at its survey's service question, if asked


class RootCause(NamedTuple):
    name: str
    cases: int
    anonymous: int  # of which from anonymous surveys


async def oldest_open_cases(
    session: AsyncSession, *, limit: int, service_questions: Mapping[str, str]
) -> list[OpenCase]:
    """The `limit` open cases waiting longest, oldest first, each with the service its survey's question
    (`service_questions`: survey id -> question id) was answered with."""
    service = (
        select(Answer.choice)
        .where(col(Answer.conversation_id) == Complaint.conversation_id, _service_question(service_questions))
        .limit(1)
        .scalar_subquery()
    )
    columns: list[Any] = [Complaint.id, Complaint.created_at, Complaint.survey_id, Complaint.channel, service]
    statement = (
        select(*columns)
        .where(col(Complaint.status).in_(OPEN_CASE_STATUSES))
        .order_by(col(Complaint.created_at), col(Complaint.id))
        .limit(limit)
    )
    return [OpenCase(*row) for row in await session.exec(statement)]


def _service_question(service_questions: Mapping[str, str]) -> ColumnElement[bool]:
    """The answer is to its case's survey's service question."""
    if not service_questions:
        return false()
    return or_(
        *(
            and_(col(Complaint.survey_id) == survey, col(Answer.question_id) == question)
            for survey, question in service_questions.items()
        )
    )


async def resolved_root_causes(session: AsyncSession, *, since: datetime, until: datetime) -> list[RootCause]:
    """The root causes of the cases resolved in [since, until), most frequent first, with how many of each came
    from anonymous surveys (a case of no survey, /complain, is not anonymous)."""
    cause = col(Complaint.root_cause)
    anonymous = func.coalesce(func.sum(case((col(Conversation.anonymous) == true(), 1), else_=0)), 0)
    statement = (
        select(cause, func.count(), anonymous)
        .select_from(Complaint)
        .outerjoin(Conversation, col(Conversation.id) == Complaint.conversation_id)
        .where(cause.is_not(None), col(Complaint.resolved_at) >= since, col(Complaint.resolved_at) < until)
        .group_by(cause)
        .order_by(func.count().desc(), cause)
    )
    return [
        RootCause(str(name), count, anonymous_count) for name, count, anonymous_count in await session.exec(statement)
    ]
