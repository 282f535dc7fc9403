"""Daily tallies: each survey's answers and respondents counted per channel and UTC day (of the conversation's
start), so that a report over a year sums a few thousand rows instead of reading a million answers.

The tallies are folded when a report is built, not on the answer's path: a fold (bot/reports.py's `fold_tallies`:
`changes`, then `recount` for each batch, then `mark`) counts again, from the answers, the days of the
conversations changed since the last fold: every answer stored, changed or skipped, and every change of status,
moves its conversation's `updated_at`. A report then reads its whole days from the tallies and the part days at its
edges from the answers, as storage/reports.py counts them, so its numbers are those of the scan. Erasures (/forget,
the retention's scrub) clear words, which the tallies do not count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import TIMESTAMP, ColumnElement, Date, and_, cast, delete, func, insert, literal, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import reports
from storage.models import Answer, AnswerDay, Conversation, ConversationStatus, RespondentDay, StoppedDay, TallyMark
from storage.reports import AnswerTally, Period, Respondents, Scope, Stopped

MARK = "answers"
# A conversation stamped before the latest change a fold saw is still recounted by the next fold, as long as it is
# at most this much older: stamps come from the clocks of the processes sharing the database (one running fast moves
# the mark ahead of the others' stamps) and a transaction may commit after the fold read the changes.
SETTLING = reports.CLOCKS_APART
# The survey-days recounted in one transaction at most: the first fold of a year of answers takes many short ones,
# so that writers (on SQLite, every writer) wait a moment for each rather than seconds for all.
DAYS_PER_RECOUNT = 7
DAILY = (None, "channel", "day", "week", "month")  # the groupings the tallies can answer (not by answer, attribute)
TALLIES = (AnswerDay, RespondentDay, StoppedDay)


@dataclass(frozen=True, slots=True)
class Days:
    """Consecutive days of one survey: [first, end)."""

    survey_id: str
    first: date
    end: date


@dataclass(frozen=True, slots=True)
class Fold:
    """What a fold recounts, a transaction per batch (`recount`), before it marks the tallies counted `through`
    the latest change it saw (`mark`); None: no conversation yet."""

    batches: list[list[Days]]
    through: datetime | None
    marked: datetime | None  # the last fold's `through`

    @property
    def moves_the_mark(self) -> bool:
        return self.through is not None and self.through != self.marked


async def changes(session: AsyncSession) -> Fold:
    """The days of the conversations changed since the last fold (every day, the first time)."""
    latest = (await session.exec(select(func.max(Conversation.updated_at)))).one()  # first: what changes after it
    mark = (await session.exec(select(TallyMark.through).where(TallyMark.name == MARK))).first()
    # The day first: with the survey first, SQLite walks the survey's index for the DISTINCT, every conversation.
    changed = select(_day(session, col(Conversation.started_at)), col(Conversation.survey_id)).distinct()
    if mark is not None:
        changed = changed.where(col(Conversation.updated_at) >= mark - SETTLING)
    days = [(survey, _as_date(day)) for day, survey in await session.exec(changed)]
    return Fold(_batches(_runs(days)), latest, mark)


async def recount(session: AsyncSession, batch: list[Days]) -> None:
    """Drops the tallies of these days and counts them again from the answers. Two recounts wait for each other on
    the mark's row: on PostgreSQL the second's DELETE would miss the rows the first inserted, and count them twice."""
    await session.exec(select(TallyMark.name).where(TallyMark.name == MARK).with_for_update())
    for table in TALLIES:
        await session.exec(
            delete(table).where(or_(*(_on_days(col(table.survey_id), col(table.day), d) for d in batch)))
        )
    started = col(Conversation.started_at)
    within = or_(*(_on_days(col(Conversation.survey_id), started, days, _midnight) for days in batch))
    day: tuple[Any, ...] = (col(Conversation.survey_id), _day(session, started))
    await _count_answers(session, within, (*day, col(Conversation.channel)))
    await _count_respondents(session, within, (*day, col(Conversation.channel)))
    await _count_stops(session, within, day)


async def mark(session: AsyncSession, through: datetime) -> None:
    """The tallies counted every change up to `through` (the migration writes the row; an emptied table gets it)."""
    row = (await session.exec(select(TallyMark).where(TallyMark.name == MARK))).first() or TallyMark(name=MARK)
    row.through = through
    session.add(row)


def _runs(days: Iterable[tuple[str, date]]) -> list[Days]:
    """The days of each survey as runs of consecutive days, each of DAYS_PER_RECOUNT at most."""
    runs: list[Days] = []
    for survey, day in sorted(days):
        last = runs[-1] if runs else None
        if last is not None and last.survey_id == survey and last.end == day and _length(last) < DAYS_PER_RECOUNT:
            runs[-1] = replace(last, end=day + timedelta(days=1))
        else:
            runs.append(Days(survey, day, day + timedelta(days=1)))
    return runs


def _batches(runs: list[Days]) -> list[list[Days]]:
    """The runs grouped into batches of DAYS_PER_RECOUNT days at most: the days a few reports apart, one batch."""
    batches: list[list[Days]] = []
    for run in runs:
        if batches and sum(map(_length, batches[-1])) + _length(run) <= DAYS_PER_RECOUNT:
            batches[-1].append(run)
        else:
            batches.append([run])
    return batches


def _length(days: Days) -> int:
    return (days.end - days.first).days


ANONYMOUS = reports.count_if(col(Conversation.anonymous) == true())


async def _count_answers(session: AsyncSession, within: Any, place: tuple[Any, ...]) -> None:
    """As reports.answer_tallies, per survey, day and channel."""
    alike: tuple[Any, ...] = (
        col(Answer.question_id),
        col(Answer.value),
        col(Answer.skipped),
        col(Answer.sentiment_label),
        reports.polarity_bin(col(Answer.polarity)),
    )
    columns: tuple[Any, ...] = (*place, *alike, func.count(), ANONYMOUS)
    answers = select(*columns).join(Answer, col(Answer.conversation_id) == Conversation.id).where(within)
    names = ("survey_id", "day", "channel", "question_id", "value", "skipped", "label", "polarity_bin")
    statement = answers.group_by(*place, *alike)
    await session.exec(insert(AnswerDay).from_select([*names, "answers", "anonymous"], statement))


async def _count_respondents(session: AsyncSession, within: Any, place: tuple[Any, ...]) -> None:
    """As reports.respondents, per survey, day and channel."""
    answered = select(Answer.id).where(col(Answer.conversation_id) == Conversation.id).exists()
    completed = reports.count_if(col(Conversation.status) == ConversationStatus.COMPLETED)
    columns: tuple[Any, ...] = (*place, func.count(), ANONYMOUS, completed)
    statement = select(*columns).where(within, answered).group_by(*place)
    names = ("survey_id", "day", "channel", "respondents", "anonymous", "completed")
    await session.exec(insert(RespondentDay).from_select(names, statement))


async def _count_stops(session: AsyncSession, within: Any, day: tuple[Any, ...]) -> None:
    """As reports.stopped, per survey and day."""
    columns: tuple[Any, ...] = (*day, *reports.STOPPED_AT, func.count())
    statement = reports.not_completed(select(*columns).where(within)).group_by(*day, *reports.STOPPED_AT)
    names = ("survey_id", "day", "waiting_at", "last_question", "last_value", "last_choice", "last_skipped")
    await session.exec(insert(StoppedDay).from_select([*names, "conversations"], statement))


def _on_days(survey: Any, day: Any, days: Days, as_bound: Callable[[date], Any] = lambda day: day) -> Any:
    """Whether a row of `survey` falls on `days`, by its `day` (or time, `as_bound` making a day a time)."""
    return and_(survey == days.survey_id, day >= as_bound(days.first), day < as_bound(days.end))


def _day(session: AsyncSession, timestamp: Any) -> ColumnElement[Any]:
    """The UTC day of a timestamp, as each engine stores a date."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", timestamp), Date)
    return func.date(timestamp)


def _as_date(day: date | str) -> date:
    """A day as read back from SQLite's date() (text) or PostgreSQL (a date)."""
    return day if isinstance(day, date) else date.fromisoformat(day)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True, slots=True)
class _Split:
    """A scope as the whole days the tallies count, [first, end) (None: unbounded), and the parts of days at its
    edges, counted from the answers."""

    first: date | None
    end: date | None
    edges: list[Scope]


def _split(scope: Scope) -> _Split | None:
    """The scope's whole days and edges; None when it has no whole day."""
    since = None if scope.since is None else scope.since.astimezone(UTC)
    until = None if scope.until is None else scope.until.astimezone(UTC)
    first = None if since is None else since.date() + timedelta(days=0 if since == _midnight(since.date()) else 1)
    end = None if until is None else until.date()
    if first is not None and end is not None and first >= end:
        return None
    edges = []
    if since is not None and first is not None and since < _midnight(first):
        edges.append(replace(scope, until=_midnight(first)))
    if until is not None and end is not None and _midnight(end) < until:
        edges.append(replace(scope, since=_midnight(end)))
    return _Split(first, end, edges)


def _key(session: AsyncSession, scope: Scope, day: Any, channel: Any) -> ColumnElement[Any]:
    if scope.by is None:
        return literal(None)
    if scope.by == "channel":
        return channel  # type: ignore[no-any-return]
    period: Period = scope.by  # type: ignore[assignment]  # DAILY leaves only the periods
    if session.get_bind().dialect.name == "postgresql":
        day = cast(day, TIMESTAMP)  # without a zone: the day's label whatever the session's zone
    return reports.period_label(session, period, day, zoned=False)


def _within(split: _Split, survey_column: Any, day_column: Any, survey_id: str) -> list[ColumnElement[bool]]:
    conditions = [survey_column == survey_id]
    if split.first is not None:
        conditions.append(day_column >= split.first)
    if split.end is not None:
        conditions.append(day_column < split.end)
    return conditions


async def answer_tallies(session: AsyncSession, scope: Scope) -> list[AnswerTally]:
    """As storage/reports.py's answer_tallies: the tallies' whole days and the answers of the edges."""
    split = _split(scope) if scope.by in DAILY else None
    if split is None:
        return await reports.answer_tallies(session, scope)
    key = _key(session, scope, col(AnswerDay.day), col(AnswerDay.channel))
    kept: tuple[Any, ...] = (
        col(AnswerDay.question_id),
        col(AnswerDay.value),
        col(AnswerDay.skipped),
        col(AnswerDay.label),
        col(AnswerDay.polarity_bin),
    )
    columns: tuple[Any, ...] = (key.label("grp"), *kept, func.sum(AnswerDay.answers), func.sum(AnswerDay.anonymous))
    statement = (
        select(*columns)
        .where(*_within(split, AnswerDay.survey_id, AnswerDay.day, scope.survey_id))
        .group_by(key, *kept)
    )
    rows = [
        AnswerTally(group, question, value, bool(skipped), label, bin_, int(answers), int(anonymous))
        for group, question, value, skipped, label, bin_, answers, anonymous in await session.exec(statement)
    ]
    for edge in split.edges:
        rows += await reports.answer_tallies(session, edge)
    return rows


async def respondents(session: AsyncSession, scope: Scope) -> list[Respondents]:
    """As storage/reports.py's respondents: the tallies' whole days and the conversations of the edges."""
    split = _split(scope) if scope.by in DAILY else None
    if split is None:
        return await reports.respondents(session, scope)
    key = _key(session, scope, col(RespondentDay.day), col(RespondentDay.channel))
    sums: tuple[Any, ...] = (
        func.sum(RespondentDay.respondents),
        func.sum(RespondentDay.anonymous),
        func.sum(RespondentDay.completed),
    )
    statement = (
        select(key.label("grp"), *sums)
        .where(*_within(split, RespondentDay.survey_id, RespondentDay.day, scope.survey_id))
        .group_by(key)
    )
    rows = [Respondents(group, *(int(n) for n in counts)) for group, *counts in await session.exec(statement)]
    for edge in split.edges:
        rows += await reports.respondents(session, edge)
    return _summed(rows)


def _summed(rows: Iterable[Respondents]) -> list[Respondents]:
    """One row per group: a group found both in the tallies and at an edge (a week that starts mid-day)."""
    sums: defaultdict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for group, *counts in rows:
        sums[group] = [total + n for total, n in zip(sums[group], counts, strict=True)]
    return [Respondents(group, *counts) for group, counts in sums.items()]


async def stopped(session: AsyncSession, scope: Scope) -> list[Stopped]:
    """As storage/reports.py's stopped (not grouped): the tallies' whole days and the conversations of the edges."""
    split = _split(scope) if scope.by is None else None
    if split is None:
        return await reports.stopped(session, scope)
    where: tuple[Any, ...] = (
        col(StoppedDay.waiting_at),
        col(StoppedDay.last_question),
        col(StoppedDay.last_value),
        col(StoppedDay.last_choice),
        col(StoppedDay.last_skipped),
    )
    columns: tuple[Any, ...] = (*where, func.sum(StoppedDay.conversations))
    statement = (
        select(*columns).where(*_within(split, StoppedDay.survey_id, StoppedDay.day, scope.survey_id)).group_by(*where)
    )
    rows = [
        Stopped(waiting, question, value, choice, skipped, int(count))
        for waiting, question, value, choice, skipped, count in await session.exec(statement)
    ]
    for edge in split.edges:
        rows += await reports.stopped(session, edge)
    return rows
