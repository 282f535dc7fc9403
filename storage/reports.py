"""The report's aggregates: counted by the database per group (a channel, a period, the answer to a choice question),
so that a report reads a few rows per group whatever the number of answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, literal, true
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from storage.models import Answer, Complaint, Conversation

Period = Literal["day", "week", "month"]
GroupBy = Literal["channel", "day", "week", "month", "answer"]
NO_ANSWER = "-"  # the group of those who skipped the question grouped by
NEGATIVE_LABEL = "negative"
UNKNOWN_LABEL = "unknown"  # the analyzer does not read the language: not counted either way


@dataclass(frozen=True, slots=True)
class Scope:
    """Which conversations a report counts: one survey's, started in [since, until), grouped by `by` (None: one
    total). `by="answer"` groups by the option chosen at `group_question`."""

    survey_id: str
    since: datetime | None = None
    until: datetime | None = None
    by: GroupBy | None = None
    group_question: str | None = None


class Respondents(NamedTuple):
    group: str | None
    respondents: int  # conversations with at least one answer
    anonymous: int  # of which anonymous
    completed: int


class ScoreCount(NamedTuple):
    group: str | None
    value: int
    answers: int
    anonymous: int  # of which anonymous


class SentimentCount(NamedTuple):
    group: str | None
    labelled: int  # free-text answers the analyzer read
    negative: int


class CaseTimes(NamedTuple):
    """One case of a conversation in scope, with the times its durations are measured from."""

    group: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


def _period_label(session: AsyncSession, period: Period, column: Any) -> ColumnElement[str]:
    """The UTC day, week (its Monday) or month of a timestamp, as ISO text: 2026-11-30, 2026-11."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        if period == "month":
            return func.to_char(utc, "YYYY-MM")
        return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")
    if period == "month":
        return func.strftime("%Y-%m", column)
    if period == "week":  # to the next Sunday (or the same day), then back to its Monday
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column)


class _Grouped(NamedTuple):
    key: ColumnElement[Any]
    statement: SelectOfScalar[Any]


def _conversations(session: AsyncSession, scope: Scope, *columns: Any) -> _Grouped:
    """SELECT group key, columns FROM the scope's conversations (joined to the grouping answer where needed)."""
    grouping = aliased(Answer, name="grouping")
    if scope.by is None:
        key: Any = literal(None)  # a column, a function of one, or none: one total
    elif scope.by == "channel":
        key = col(Conversation.channel)
    elif scope.by == "answer":
        key = func.coalesce(grouping.choice, NO_ANSWER)
    else:
        key = _period_label(session, scope.by, Conversation.started_at)
    statement: SelectOfScalar[Any] = select(key.label("grp"), *columns).select_from(Conversation)
    if scope.by == "answer":
        joined = and_(
            col(grouping.conversation_id) == Conversation.id, col(grouping.question_id) == scope.group_question
        )
        statement = statement.outerjoin(grouping, joined)
    conditions = [col(Conversation.survey_id) == scope.survey_id]
    if scope.since is not None:
        conditions.append(col(Conversation.started_at) >= scope.since)
    if scope.until is not None:
        conditions.append(col(Conversation.started_at) < scope.until)
    return _Grouped(key, statement.where(*conditions))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def respondents(session: AsyncSession, scope: Scope) -> list[Respondents]:
    """Per group: the conversations with an answer, how many of them anonymous, how many completed."""
    answered = select(Answer.conversation_id).where(Answer.conversation_id == Conversation.id).exists()
    key, statement = _conversations(
        session,
        scope,
        func.count(),
        _count_if(col(Conversation.anonymous) == true()),
        _count_if(col(Conversation.status) == "completed"),
    )
    rows = await session.exec(statement.where(answered).group_by(key))
    return [Respondents(*row) for row in rows]


async def score_counts(session: AsyncSession, scope: Scope, *, question_id: str) -> list[ScoreCount]:
    """Per group and score of one question: how many gave it (the distribution every score figure comes from)."""
    anonymous = _count_if(col(Conversation.anonymous) == true())
    key, statement = _conversations(session, scope, Answer.value, func.count(), anonymous)
    statement = statement.join(Answer, col(Answer.conversation_id) == Conversation.id).where(
        Answer.question_id == question_id, col(Answer.value).is_not(None), col(Answer.skipped).is_(False)
    )
    rows = await session.exec(statement.group_by(key, col(Answer.value)).order_by(col(Answer.value)))
    return [ScoreCount(*row) for row in rows]


async def sentiment_counts(session: AsyncSession, scope: Scope) -> list[SentimentCount]:
    """Per group: the free-text answers with a sentiment, and how many of them negative."""
    label = col(Answer.sentiment_label)
    key, statement = _conversations(session, scope, func.count(), _count_if(label == NEGATIVE_LABEL))
    statement = statement.join(Answer, col(Answer.conversation_id) == Conversation.id).where(
        label.is_not(None), label != UNKNOWN_LABEL
    )
    return [SentimentCount(*row) for row in await session.exec(statement.group_by(key))]


async def case_times(session: AsyncSession, scope: Scope) -> list[CaseTimes]:
    """The cases opened from the scope's conversations, one row each: the medians of their durations are taken
    from these rows, as SQLite has no percentile aggregate."""
    _, statement = _conversations(
        session, scope, Complaint.created_at, Complaint.acknowledged_at, Complaint.resolved_at
    )
    statement = statement.join(Complaint, col(Complaint.conversation_id) == Conversation.id)
    return [CaseTimes(*row) for row in await session.exec(statement)]


async def root_causes(session: AsyncSession, scope: Scope) -> list[tuple[str, int]]:
    """The root causes staff gave the scope's cases, most frequent first."""
    cause = col(Complaint.root_cause)
    _, statement = _conversations(session, scope, cause, func.count())
    statement = statement.join(Complaint, col(Complaint.conversation_id) == Conversation.id).where(cause.is_not(None))
    rows = await session.exec(statement.group_by(cause).order_by(func.count().desc(), cause))
    return [(str(name), count) for _, name, count in rows]
