"""The report's aggregates: counted by the database per group (a channel, a period, the answer to a choice question,
an attribute of the invitation), so that a report reads a few rows per group whatever the number of answers. Three
reads are bounded otherwise: case durations on SQLite (one row per case), the latest negative comments (capped) and
the latest contradicted scores (capped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, true
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from storage.models import Answer, CaseEvent, Complaint, Conversation, ConversationStatus, Invitation

Period = Literal["day", "week", "month"]
GroupBy = Literal["channel", "day", "week", "month", "answer", "attribute"]
NO_ANSWER = "-"  # the group of those who skipped the question grouped by, or whose invitation lacks the attribute
NEGATIVE_LABEL = "negative"
POSITIVE_LABEL = "positive"
UNKNOWN_LABEL = "unknown"  # the analyzer does not read the language: not counted either way


@dataclass(frozen=True, slots=True)
class Scope:
    """Which conversations a report counts: one survey's, started in [since, until), grouped by `by` (None: one
    total). `by="answer"` groups by the option chosen at `group_question`, `by="attribute"` by the attribute
    `group_attribute` of the invitation that opened the conversation."""

    survey_id: str
    since: datetime | None = None
    until: datetime | None = None
    by: GroupBy | None = None
    group_question: str | None = None
    group_attribute: str | None = None


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


class AnswerTally(NamedTuple):
    """Per group, the answers alike in all a figure reads of them: their question, score, whether skipped, the
    sentiment label and polarity bin of their words."""

    group: str | None
    question_id: str
    value: int | None
    skipped: bool
    label: str | None
    polarity_bin: int | None  # i: below POLARITY_EDGES[i] (the last: from the last edge on); None without one
    answers: int
    anonymous: int  # of which anonymous


class SentimentCount(NamedTuple):
    group: str | None
    labelled: int  # free-text answers the analyzer read
    negative: int


class CaseCounts(NamedTuple):
    """Per group, the scope's cases and what their trails say happened to them (each a count of cases)."""

    group: str | None
    cases: int
    resolved: int  # resolved by staff at least once
    late: int  # escalated for not being acknowledged or resolved in time: an SLA breach
    reopened: int  # the customer said it was not resolved
    confirmed: int  # the customer said it was resolved


class Durations(NamedTuple):
    """Per group, how long the scope's cases took to a trail step (its first time), in seconds."""

    group: str | None
    cases: int
    median: float
    p90: float


class Funnel(NamedTuple):
    """Per group, the invitations to the scope's survey and how far they went."""

    group: str | None
    invitations: int
    skipped: int  # not sent, by a rule (opted out, unreachable)
    failed: int  # the platform refused the message
    delivered: int  # sent: the survey was opened at its first question
    started: int  # answered at least one question
    completed: int


class QuestionCounts(NamedTuple):
    question: str
    answered: int
    skipped: int


class Stopped(NamedTuple):
    """Conversations not completed, by where they are: the question waiting (open ones) or the last answer (closed
    ones; all None when they answered none)."""

    waiting_at: str | None
    last_question: str | None
    last_value: int | None
    last_choice: str | None
    last_skipped: bool | None
    conversations: int


class Contradiction(NamedTuple):
    conversation_id: int
    anonymous: bool
    started_at: datetime
    score: int
    label: str
    text: str


def period_label(session: AsyncSession, period: Period, column: Any, *, zoned: bool = True) -> ColumnElement[str]:
    """The UTC day, week (its Monday) or month of a timestamp, as ISO text: 2026-11-30, 2026-11. `zoned`: a
    timestamp with its zone (read on UTC's clock); else a timestamp without one, taken as UTC's clock already."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column) if zoned else column
        if period == "month":
            return func.to_char(utc, "YYYY-MM")
        return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")
    if period == "month":
        return func.strftime("%Y-%m", column)
    if period == "week":  # to the next Sunday (or the same day), then back to its Monday
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column)


# How far apart the clocks of the processes sharing a database may be: another process may stamp a survey's case, or
# a later change, this much behind the one that started it.
CLOCKS_APART = timedelta(hours=1)


class _Grouped(NamedTuple):
    key: ColumnElement[Any]
    statement: SelectOfScalar[Any]


def _conversations(session: AsyncSession, scope: Scope, *columns: Any, of_cases: bool = False) -> _Grouped:
    """SELECT group key, columns FROM the scope's conversations (joined to the grouping answer where needed), or
    `of_cases`: FROM the cases of the scope's conversations, found by the survey each case carries (as its
    conversation's): a survey has far fewer cases than conversations."""
    grouping = aliased(Answer, name="grouping")
    if scope.by is None:
        key: Any = literal(None)  # a column, a function of one, or none: one total
    elif scope.by == "channel":
        key = col(Conversation.channel)
    elif scope.by == "answer":
        key = func.coalesce(grouping.choice, NO_ANSWER)
    elif scope.by == "attribute":
        key = _attribute(scope)
    else:
        key = period_label(session, scope.by, Conversation.started_at)
    statement: SelectOfScalar[Any] = select(key.label("grp"), *columns)
    if of_cases:
        statement = statement.select_from(Complaint).join(
            Conversation, col(Conversation.id) == Complaint.conversation_id
        )
    else:
        statement = statement.select_from(Conversation)
    if scope.by == "answer":
        joined = and_(
            col(grouping.conversation_id) == Conversation.id, col(grouping.question_id) == scope.group_question
        )
        statement = statement.outerjoin(grouping, joined)
    elif scope.by == "attribute":
        statement = statement.outerjoin(Invitation, col(Invitation.conversation_id) == Conversation.id)
    conditions = [col(Complaint.survey_id if of_cases else Conversation.survey_id) == scope.survey_id]
    if scope.since is not None:
        conditions.append(col(Conversation.started_at) >= scope.since)
        if of_cases:  # implied (a case opens at an answer, after its survey started): where its index starts
            conditions.append(col(Complaint.created_at) >= scope.since - CLOCKS_APART)
    if scope.until is not None:
        conditions.append(col(Conversation.started_at) < scope.until)
    return _Grouped(key, statement.where(*conditions))


def _attribute(scope: Scope) -> ColumnElement[str]:
    """The invitation's attribute `group_attribute` as text (JSON extraction as each engine spells it)."""
    assert scope.group_attribute is not None
    return func.coalesce(col(Invitation.attributes)[scope.group_attribute].as_string(), NO_ANSWER)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def respondents(session: AsyncSession, scope: Scope) -> list[Respondents]:
    """Per group: the conversations with an answer, how many of them anonymous, how many completed."""
    answered = select(Answer.conversation_id).where(Answer.conversation_id == Conversation.id).exists()
    key, statement = _conversations(
        session,
        scope,
        func.count(),
        count_if(col(Conversation.anonymous) == true()),
        count_if(col(Conversation.status) == "completed"),
    )
    rows = await session.exec(statement.where(answered).group_by(key))
    return [Respondents(*row) for row in rows]


async def score_counts(session: AsyncSession, scope: Scope, *, question_id: str) -> list[ScoreCount]:
    """Per group and score of one question: how many gave it (the distribution every score figure comes from)."""
    anonymous = count_if(col(Conversation.anonymous) == true())
    key, statement = _conversations(session, scope, Answer.value, func.count(), anonymous)
    statement = statement.join(Answer, col(Answer.conversation_id) == Conversation.id).where(
        Answer.question_id == question_id, col(Answer.value).is_not(None), col(Answer.skipped).is_(False)
    )
    rows = await session.exec(statement.group_by(key, col(Answer.value)).order_by(col(Answer.value)))
    return [ScoreCount(*row) for row in rows]


async def answer_tallies(session: AsyncSession, scope: Scope) -> list[AnswerTally]:
    """Per group, the scope's answers counted by question, score, skipped, sentiment label and polarity bin: one
    pass over the answers (a few hundred rows per group) that score, sentiment, polarity and question counts are
    all summed from."""
    bin_of = polarity_bin(col(Answer.polarity))
    kept = (col(Answer.question_id), col(Answer.value), col(Answer.skipped), col(Answer.sentiment_label))
    anonymous = count_if(col(Conversation.anonymous) == true())
    key, statement = _conversations(session, scope, *kept, bin_of.label("bin"), func.count(), anonymous)
    statement = statement.join(Answer, col(Answer.conversation_id) == Conversation.id)
    rows = await session.exec(statement.group_by(key, *kept, "bin"))
    return [
        AnswerTally(group, question, value, bool(skipped), *counts) for group, question, value, skipped, *counts in rows
    ]


async def case_counts(session: AsyncSession, scope: Scope) -> list[CaseCounts]:
    """Per group: the cases opened from the scope's conversations, and how many of them the trail shows resolved,
    late, reopened by the customer or confirmed resolved by them."""

    def ever(condition: ColumnElement[bool]) -> ColumnElement[int]:
        on_trail = select(CaseEvent.id).where(col(CaseEvent.complaint_id) == Complaint.id, condition).exists()
        return count_if(on_trail)

    action, detail = col(CaseEvent.action), col(CaseEvent.detail)
    key, statement = _conversations(
        session,
        scope,
        func.count(),
        ever(action == "resolved"),
        ever(and_(action == "escalated", detail.like(OVERDUE_ESCALATION))),
        ever(and_(action == "reopened", col(CaseEvent.actor) == CUSTOMER)),
        ever(and_(action == "closed", col(CaseEvent.actor) == CUSTOMER)),
        of_cases=True,
    )
    return [CaseCounts(*row) for row in await session.exec(statement.group_by(key))]


OVERDUE_ESCALATION = "not % in time"  # the trail line of bot/cases.py's escalation of an overdue case
CUSTOMER = "customer"  # the trail's actor for the customer's own answers


async def case_durations(session: AsyncSession, scope: Scope, *, action: str) -> list[Durations]:
    """Per group: the median and 90th percentile of the time from each case's opening to its first `action` on
    the trail ("acknowledged", "resolved"): percentile_cont on PostgreSQL; on SQLite, which has no percentile
    aggregate, interpolated the same way from the sorted column of durations (one row per case, not per answer)."""
    first = select(func.min(CaseEvent.at)).where(
        col(CaseEvent.complaint_id) == Complaint.id, CaseEvent.action == action
    )
    reached = first.scalar_subquery().label("reached")
    _, cases = _conversations(session, scope, col(Complaint.created_at).label("opened"), reached, of_cases=True)
    timed = cases.subquery()
    seconds: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", timed.c.reached - timed.c.opened)
        figures: tuple[Any, ...] = (func.count(), *(func.percentile_cont(f).within_group(seconds) for f in (0.5, 0.9)))
        statement = select(timed.c.grp, *figures).where(timed.c.reached.is_not(None)).group_by(timed.c.grp)
        return [Durations(group, n, float(p50), float(p90)) for group, n, p50, p90 in await session.exec(statement)]
    # Julian days carry about 10 µs of rounding at today's dates: rounded to the millisecond, far finer than hours.
    seconds = func.round((func.julianday(timed.c.reached) - func.julianday(timed.c.opened)) * 86400.0, 3)
    ordered = select(timed.c.grp, seconds).where(timed.c.reached.is_not(None)).order_by(timed.c.grp, seconds)
    by_group: dict[str | None, list[float]] = {}
    for group, value in await session.exec(ordered):
        by_group.setdefault(group, []).append(value)
    return [Durations(g, len(v), _percentile(v, 0.5), _percentile(v, 0.9)) for g, v in by_group.items()]


def _percentile(ordered: list[float], fraction: float) -> float:
    """As percentile_cont: interpolated linearly between the two values around the fraction's rank."""
    rank = fraction * (len(ordered) - 1)
    below = int(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (rank - below) * (ordered[above] - ordered[below])


async def root_causes(session: AsyncSession, scope: Scope) -> list[tuple[str, int]]:
    """The root causes staff gave the scope's cases, most frequent first."""
    cause = col(Complaint.root_cause)
    _, statement = _conversations(session, scope, cause, func.count(), of_cases=True)
    statement = statement.where(cause.is_not(None))
    rows = await session.exec(statement.group_by(cause).order_by(func.count().desc(), cause))
    return [(str(name), count) for _, name, count in rows]


async def categories(session: AsyncSession, scope: Scope) -> list[tuple[str, int]]:
    """The categories triage gave the scope's cases, most frequent first."""
    category = col(Complaint.category)
    _, statement = _conversations(session, scope, category, func.count(), of_cases=True)
    rows = await session.exec(statement.where(category.is_not(None)).group_by(category).order_by(func.count().desc()))
    return [(str(name), count) for _, name, count in rows]


async def negative_comments(session: AsyncSession, scope: Scope, *, limit: int) -> list[str]:
    """The words of the scope's negative comments, the latest `limit` of them: a bounded sample to find phrases in."""
    _, statement = _conversations(session, scope, Answer.text)
    statement = statement.join(Answer, col(Answer.conversation_id) == Conversation.id).where(
        col(Answer.sentiment_label) == NEGATIVE_LABEL, col(Answer.text).is_not(None)
    )
    rows = await session.exec(statement.order_by(col(Answer.answered_at).desc()).limit(limit))
    return [str(text) for _, text in rows]


POLARITY_EDGES = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75)  # eight bins over -1..1, each closed on its left


def polarity_bin(polarity: Any) -> ColumnElement[int | None]:
    """The number of the POLARITY_EDGES bin a polarity falls in (None without one)."""
    return case(
        *((polarity < edge, number) for number, edge in enumerate(POLARITY_EDGES)),
        (polarity.is_not(None), len(POLARITY_EDGES)),
    )


async def contradictions(
    session: AsyncSession, scope: Scope, *, question_id: str, high_from: int, low_up_to: int, limit: int
) -> list[Contradiction]:
    """The latest conversations whose score at `question_id` says the opposite of a comment's sentiment: a high
    score with negative words, or a low one with positive words."""
    comment = aliased(Answer, name="comment")
    score, label = col(Answer.value), col(comment.sentiment_label)
    _, statement = _conversations(
        session, scope, Conversation.id, Conversation.anonymous, Conversation.started_at, score, label, comment.text
    )
    statement = (
        statement.join(Answer, col(Answer.conversation_id) == Conversation.id)
        .join(comment, col(comment.conversation_id) == Conversation.id)
        .where(
            col(Answer.question_id) == question_id,
            col(comment.text).is_not(None),
            or_(and_(score >= high_from, label == NEGATIVE_LABEL), and_(score <= low_up_to, label == POSITIVE_LABEL)),
        )
    )
    rows = await session.exec(statement.order_by(col(Conversation.started_at).desc(), col(comment.id)).limit(limit))
    return [Contradiction(*row[1:]) for row in rows]


def _invitation_key(session: AsyncSession, scope: Scope) -> ColumnElement[Any]:
    if scope.by == "channel":
        return func.coalesce(Invitation.channel, NO_ANSWER)
    if scope.by == "attribute":
        return _attribute(scope)
    if scope.by in ("day", "week", "month"):
        return period_label(session, scope.by, Invitation.created_at)
    return literal(None)


async def invitation_funnel(session: AsyncSession, scope: Scope) -> list[Funnel]:
    """Per group (not by answer: an invitation's group is known before any answer): the scope's invitations,
    made in [since, until), and how far each went, its conversation telling whether it was started and completed."""
    key = _invitation_key(session, scope)
    state = col(Invitation.state)
    answered = select(Answer.id).where(col(Answer.conversation_id) == Conversation.id).exists()
    counts: tuple[Any, ...] = (
        func.count(),
        count_if(state == "skipped"),
        count_if(state == "failed"),
        count_if(state == "sent"),
        count_if(answered),
        count_if(col(Conversation.status) == ConversationStatus.COMPLETED),
    )
    statement = (
        select(key.label("grp"), *counts)
        .select_from(Invitation)
        .outerjoin(Conversation, col(Invitation.conversation_id) == Conversation.id)
        .where(col(Invitation.survey_id) == scope.survey_id)
    )
    if scope.since is not None:
        statement = statement.where(col(Invitation.created_at) >= scope.since)
    if scope.until is not None:
        statement = statement.where(col(Invitation.created_at) < scope.until)
    return [Funnel(*row) for row in await session.exec(statement.group_by(key))]


_LAST = aliased(Answer, name="last")
# Where a conversation not completed stopped: the question waiting, and its last answer (see Stopped).
STOPPED_AT: tuple[Any, ...] = tuple(
    col(column)
    for column in (Conversation.current_question, _LAST.question_id, _LAST.value, _LAST.choice, _LAST.skipped)
)


def not_completed(statement: SelectOfScalar[Any]) -> SelectOfScalar[Any]:
    """The statement over conversations, kept to those not completed and joined to their last answer (STOPPED_AT)."""
    last_id = (
        select(Answer.id)
        .where(col(Answer.conversation_id) == Conversation.id)
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    return statement.outerjoin(_LAST, col(_LAST.id) == last_id).where(
        col(Conversation.status) != ConversationStatus.COMPLETED
    )


async def stopped(session: AsyncSession, scope: Scope) -> list[Stopped]:
    """The scope's conversations not completed (not grouped), counted by where they wait (open ones) or by their
    last answer (closed ones, which keep no current question): what the flow then asked is worked out from it."""
    _, statement = _conversations(session, scope, *STOPPED_AT, func.count())
    return [Stopped(*row[1:]) for row in await session.exec(not_completed(statement).group_by(*STOPPED_AT))]
