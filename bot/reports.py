"""The report: per survey and group, CSAT, NPS, CES, sentiment and cases with their intervals, from the database's
aggregates (storage/reports.py); groups too small for an anonymous survey hidden, also from subtraction."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.report_funnel import Invitations, QuestionReach, invitation_figures, question_reach
from bot.report_stats import Change, Interval, nps_interval, real_change, wilson
from bot.report_themes import ContradictionRow, Themes, contradiction_rows, phrases, ranked
from bot.surveys import QuestionKind, Survey
from storage import reports, tally
from storage.db import Database
from storage.reports import (
    NEGATIVE_LABEL,
    POLARITY_EDGES,
    UNKNOWN_LABEL,
    AnswerTally,
    CaseCounts,
    Durations,
    GroupBy,
    QuestionCounts,
    Respondents,
    Scope,
    SentimentCount,
)
from storage.types import utcnow

SATISFIED_AT_LEAST = 4  # CSAT %: the share of 4s and 5s
DISSATISFIED_UP_TO = 2
PROMOTERS_FROM, DETRACTORS_UP_TO = 9, 6
TOTAL = "all"  # the group name of a survey's total
HOUR = 3600.0


class Breakdown(StrEnum):
    """What `feedbackbot report --by` splits each survey by."""

    CHANNEL = "channel"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    SERVICE = "service"  # the option chosen at the survey's first choice question (the service rated)

    @property
    def is_period(self) -> bool:
        return self in (Breakdown.DAY, Breakdown.WEEK, Breakdown.MONTH)


BREAKDOWNS = frozenset(breakdown.value for breakdown in Breakdown)
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as the HTTP API accepts invitation attributes


def breakdown_of(given: str) -> Breakdown | str:
    """A breakdown, or else the name of an invitation attribute (region, plan, agent); ValueError for neither."""
    if given in BREAKDOWNS:
        return Breakdown(given)
    if not ATTRIBUTE_NAME.fullmatch(given):
        raise ValueError(f"{given!r} is neither one of {', '.join(Breakdown)} nor an invitation attribute name")
    return given


Hidden = Literal["too few anonymous answers", "would reveal a hidden group by subtraction"]


@dataclass(frozen=True, slots=True)
class Csat:
    answers: int
    percent: float | None  # share of 4 and 5, in %
    interval: Interval | None
    mean: float | None
    distribution: dict[int, int]  # score -> answers, every score of the scale


@dataclass(frozen=True, slots=True)
class Nps:
    answers: int
    score: float | None  # % promoters minus % detractors
    interval: Interval | None
    promoters: int
    passives: int
    detractors: int


@dataclass(frozen=True, slots=True)
class Ces:
    answers: int
    mean: float | None
    distribution: dict[int, int]


@dataclass(frozen=True, slots=True)
class Sentiment:
    comments: int  # free-text answers with a sentiment
    negative: int
    negative_percent: float | None
    interval: Interval | None
    histogram: dict[str, int]  # polarity bin ("-1.00..-0.75") -> comments, every bin


@dataclass(frozen=True, slots=True)
class Cases:
    count: int
    acknowledged: int  # ever, by the trail
    resolved: int  # ever, by the trail
    median_hours_to_acknowledge: float | None  # to the first acknowledgement
    median_hours_to_resolve: float | None  # to the first resolution
    p90_hours_to_acknowledge: float | None
    p90_hours_to_resolve: float | None
    per_completed_percent: float | None  # cases per 100 completed surveys
    sla_breaches: int  # cases escalated for being late
    reopened: int  # cases the customer said were not resolved
    reopen_percent: float | None  # of the resolved ones
    confirmed: int  # cases the customer said were resolved
    resolved_yes_percent: float | None  # "Is this resolved for you?": yes, of the cases answered
    resolved_yes_interval: Interval | None


@dataclass(frozen=True, slots=True)
class PeriodComparison:
    """The survey's total against the previous period of the same length: a change is named only when the 95 %
    intervals part ("no real change" otherwise); None where either period has no figure or is hidden."""

    since: datetime
    until: datetime
    csat_percent: float | None
    csat_interval: Interval | None
    nps: float | None
    nps_interval: Interval | None
    csat_change: Change | NoRealChange | None
    nps_change: Change | NoRealChange | None


NoRealChange = Literal["no real change"]


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """One group's figures; all None when hidden (its respondent count stays, as App Home shows it)."""

    group: str
    respondents: int
    anonymous: int
    completed: int
    hidden: Hidden | None = None
    csat: Csat | None = None
    nps: Nps | None = None
    ces: Ces | None = None
    sentiment: Sentiment | None = None
    cases: Cases | None = None
    invitations: Invitations | None = None  # None without invitations (or when grouped by answer)
    # Against the previous period (by day, week or month): only where the two 95 % intervals do not overlap.
    changes: dict[str, Change] = field(default_factory=dict)

    def hide(self, why: Hidden) -> GroupFigures:
        return GroupFigures(self.group, self.respondents, self.anonymous, self.completed, hidden=why)


@dataclass(frozen=True, slots=True)
class ParetoRow:
    root_cause: str
    cases: int
    cumulative_percent: float


@dataclass(frozen=True, slots=True)
class SurveyReport:
    survey: str
    title: str
    total: GroupFigures
    groups: list[GroupFigures]  # empty without --by, or when the survey has nothing to group by
    root_causes: list[ParetoRow]  # empty when the total is hidden, as are the lists below
    questions: list[QuestionReach] = field(default_factory=list)
    themes: Themes | None = None
    contradictions: list[ContradictionRow] = field(default_factory=list)
    previous: PeriodComparison | None = None  # only with --since


@dataclass(frozen=True, slots=True)
class Report:
    since: datetime | None
    until: datetime | None
    by: str | None  # a Breakdown or an invitation attribute
    min_group_size: int
    surveys: list[SurveyReport]


def too_small(respondents: int, anonymous: int, min_group_size: int) -> bool:
    """A group with anonymous answers is shown only from `min_group_size` answers on, so none can be singled out."""
    return anonymous > 0 and respondents < min_group_size


def csat_figures(counts: Mapping[int, int]) -> Csat:
    answers = sum(counts.values())
    satisfied = sum(n for value, n in counts.items() if value >= SATISFIED_AT_LEAST)
    return Csat(
        answers,
        100 * satisfied / answers if answers else None,
        wilson(satisfied, answers),
        _mean(counts),
        {value: counts.get(value, 0) for value in range(1, 6)},
    )


def nps_figures(counts: Mapping[int, int]) -> Nps:
    answers = sum(counts.values())
    promoters = sum(n for value, n in counts.items() if value >= PROMOTERS_FROM)
    detractors = sum(n for value, n in counts.items() if value <= DETRACTORS_UP_TO)
    score = 100 * (promoters - detractors) / answers if answers else None
    interval = nps_interval(promoters, detractors, answers)
    return Nps(answers, score, interval, promoters, answers - promoters - detractors, detractors)


def ces_figures(counts: Mapping[int, int]) -> Ces:
    return Ces(sum(counts.values()), _mean(counts), {value: counts.get(value, 0) for value in range(1, 8)})


def _mean(counts: Mapping[int, int]) -> float | None:
    answers = sum(counts.values())
    return sum(value * n for value, n in counts.items()) / answers if answers else None


def case_figures(
    counts: CaseCounts | None, to_acknowledge: Durations | None, to_resolve: Durations | None, completed: int
) -> Cases:
    counts = counts or CaseCounts(None, 0, 0, 0, 0, 0)
    answered = counts.confirmed + counts.reopened
    acknowledged, ack_median, ack_p90 = _in_hours(to_acknowledge)
    resolved, resolve_median, resolve_p90 = _in_hours(to_resolve)
    return Cases(
        counts.cases,
        acknowledged,
        resolved,
        ack_median,
        resolve_median,
        ack_p90,
        resolve_p90,
        _percent(counts.cases, completed),
        counts.late,
        counts.reopened,
        _percent(counts.reopened, counts.resolved),
        counts.confirmed,
        _percent(counts.confirmed, answered),
        wilson(counts.confirmed, answered),
    )


def _in_hours(durations: Durations | None) -> tuple[int, float | None, float | None]:
    """How many cases reached the step, and the median and 90th percentile of the hours they took."""
    if durations is None:
        return 0, None, None
    return durations.cases, durations.median / HOUR, durations.p90 / HOUR


def _percent(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def pareto(causes: Iterable[tuple[str, int]]) -> list[ParetoRow]:
    """Root causes, most frequent first, each with the share of all cases it and the ones above it explain."""
    ranked = sorted(causes, key=lambda cause: (-cause[1], cause[0]))
    total, running, rows = sum(n for _, n in ranked), 0, []
    for name, count in ranked:
        running += count
        rows.append(ParetoRow(name, count, 100 * running / total))
    return rows


def hide_small_groups(groups: list[GroupFigures], min_group_size: int) -> list[GroupFigures]:
    """Hides each group too small to show, and, when the hidden ones together are still fewer than the minimum,
    the smallest shown groups too until they are not: otherwise the total minus the shown groups would give away
    the hidden answers. (A total too small itself is hidden by its own rule.)"""
    hidden = {g.group for g in groups if too_small(g.respondents, g.anonymous, min_group_size)}
    hidden_size = sum(g.respondents for g in groups if g.group in hidden)
    by_size = sorted((g for g in groups if g.group not in hidden and g.respondents), key=lambda g: g.respondents)
    revealing: set[str] = set()
    for group in by_size:
        if not hidden or hidden_size >= min_group_size:
            break
        revealing.add(group.group)
        hidden_size += group.respondents
    return [
        g.hide("too few anonymous answers")
        if g.group in hidden
        else g.hide("would reveal a hidden group by subtraction")
        if g.group in revealing
        else g
        for g in groups
    ]


def mark_changes(periods: list[GroupFigures]) -> list[GroupFigures]:
    """Each period with the changes against the previous shown one that its intervals call real."""
    marked, before = [], None
    for period in periods:
        if period.hidden is None and before is not None:
            changes = {
                "csat": real_change(_interval(before.csat), _interval(period.csat)),
                "nps": real_change(_interval(before.nps), _interval(period.nps)),
                "negative": real_change(_interval(before.sentiment), _interval(period.sentiment)),
            }
            period = replace(period, changes={name: change for name, change in changes.items() if change})
        marked.append(period)
        before = period if period.hidden is None else before
    return marked


def _interval(figures: Csat | Nps | Sentiment | None) -> Interval | None:
    return None if figures is None else figures.interval


async def build_report(
    database: Database,
    surveys: Iterable[Survey],
    *,
    since: datetime | None,
    until: datetime | None,
    by: str | None,
    min_group_size: int,
) -> Report:
    """The report of each survey over conversations started in [since, until), split `by` a Breakdown or an
    invitation attribute (see `breakdown_of`)."""
    await fold_tallies(database)
    async with database.snapshot() as session:
        built = []
        for survey in surveys:
            scope = Scope(survey.id, since, until)
            built.append(await _survey_report(session, survey, scope, by, min_group_size))
    return Report(since, until, by, min_group_size, built)


async def survey_totals(
    database: Database, surveys: Iterable[Survey], periods: Iterable[tuple[datetime, datetime]], *, min_group_size: int
) -> list[list[GroupFigures]]:
    """For each period [since, until), each survey's total figures: those of its report, without the rest of it (the
    digest's chart shows only these, for eight weeks)."""
    await fold_tallies(database)
    async with database.snapshot() as session:
        return [
            [await _total(session, survey, Scope(survey.id, since, until), min_group_size) for survey in surveys]
            for since, until in periods
        ]


def report_title(survey: Survey) -> str:
    return survey.text(survey.title, survey.fallback_language)


async def fold_tallies(database: Database) -> None:
    """Brings the daily tallies up to date (storage/tally.py): the days changed since the last fold recounted, a
    short transaction for each few days."""
    async with database.snapshot() as session:
        fold = await tally.changes(session)
    for batch in fold.batches:
        async with database.transaction() as session:
            await tally.recount(session, batch)
    if fold.moves_the_mark:
        assert fold.through is not None
        async with database.transaction() as session:
            await tally.mark(session, fold.through)


async def _survey_report(
    session: AsyncSession, survey: Survey, scope: Scope, by: str | None, min_group_size: int
) -> SurveyReport:
    title = report_title(survey)
    grouped = _grouped_scope(survey, scope, by)
    counted = await _counted(session, grouped or scope)
    total_counted = counted if grouped is None else await _total_counts(session, scope, grouped, counted)
    total_figures = await _total(session, survey, scope, min_group_size, total_counted)
    groups = await _group_figures(session, survey, grouped, counted, min_group_size) if grouped else []
    groups = hide_small_groups(groups, min_group_size)
    if by in BREAKDOWNS and Breakdown(by).is_period:
        groups = mark_changes(groups)
    report = SurveyReport(survey.id, title, total_figures, groups, [])
    if total_figures.hidden:
        return report
    before = _previous_scope(scope)
    then = None if before is None else await _total(session, survey, before, min_group_size)
    shown_before = (before, then) if before and then and then.hidden is None else None  # else no count of it shown
    return replace(
        report,
        root_causes=pareto(await reports.root_causes(session, scope)),
        questions=question_reach(survey, _question_counts(total_counted.answers), await tally.stopped(session, scope)),
        themes=await _themes(session, (scope, total_figures), shown_before),
        contradictions=await _contradictions(session, survey, scope),
        previous=None if before is None or then is None else _comparison(before, then, total_figures),
    )


async def _total(
    session: AsyncSession, survey: Survey, scope: Scope, min_group_size: int, counted: _Counted | None = None
) -> GroupFigures:
    """The scope's total figures, from its counts when they are at hand."""
    if counted is None:
        counted = await _counted(session, scope)
    total = await _group_figures(session, survey, scope, counted, min_group_size)
    return total[0] if total else GroupFigures(TOTAL, 0, 0, 0)


NEGATIVE_COMMENTS_READ = 1000  # the latest negative comments of a period that its phrases are found in
CONTRADICTIONS_LISTED = 20


async def _themes(
    session: AsyncSession, now: tuple[Scope, GroupFigures], before: tuple[Scope, GroupFigures] | None
) -> Themes:
    """The period's top complaint categories and phrases, each against the period `before` when there is one (each
    period with its total's figures)."""
    categories, comments = await _theme_counts(session, *now)
    earlier = None if before is None else await _theme_counts(session, *before)
    return Themes(
        ranked(categories, None if earlier is None else earlier[0]),
        ranked(phrases(comments).items(), None if earlier is None else phrases(earlier[1]).items()),
        len(comments),
        None if before is None else before[0].since,
        None if before is None else before[0].until,
    )


async def _theme_counts(
    session: AsyncSession, scope: Scope, total: GroupFigures
) -> tuple[list[tuple[str, int]], list[str]]:
    """The scope's cases by category, and the words of its latest negative comments. With none counted in its total
    they are not looked for: the search walks back every survey's negative comments for the scope's."""
    negative = total.sentiment.negative if total.sentiment else 0
    comments = await reports.negative_comments(session, scope, limit=NEGATIVE_COMMENTS_READ) if negative else []
    return await reports.categories(session, scope), comments


def _previous_scope(scope: Scope) -> Scope | None:
    """The period of the same length just before the scope's; None without a start, or before the calendar's."""
    if scope.since is None:
        return None
    until = scope.until or utcnow()
    try:
        return replace(scope, since=scope.since - (until - scope.since), until=scope.since)
    except OverflowError:  # a period starting within its own length of year 1: nothing came before it
        return None


def _comparison(before: Scope, then: GroupFigures, now: GroupFigures) -> PeriodComparison:
    """The total `now` against the one `then` of the period `before` (without figures when it is hidden)."""
    assert before.since is not None and before.until is not None
    return PeriodComparison(
        before.since,
        before.until,
        then.csat.percent if then.csat else None,
        _interval(then.csat),
        then.nps.score if then.nps else None,
        _interval(then.nps),
        _change(_interval(then.csat), _interval(now.csat)),
        _change(_interval(then.nps), _interval(now.nps)),
    )


def _change(before: Interval | None, after: Interval | None) -> Change | NoRealChange | None:
    if before is None or after is None:
        return None
    return real_change(before, after) or "no real change"


# The scores a comment's sentiment contradicts: (high from, low up to) per kind.
CONTRADICTED = {
    QuestionKind.CSAT: (SATISFIED_AT_LEAST, DISSATISFIED_UP_TO),
    QuestionKind.NPS: (PROMOTERS_FROM, DETRACTORS_UP_TO),
}


async def _contradictions(session: AsyncSession, survey: Survey, scope: Scope) -> list[ContradictionRow]:
    """The latest comments that contradict the survey's first CSAT (else NPS) score."""
    for kind, (high_from, low_up_to) in CONTRADICTED.items():
        question = next((q for q in survey.questions if q.kind == kind), None)
        if question is not None:
            found = await reports.contradictions(
                session,
                scope,
                question_id=question.id,
                high_from=high_from,
                low_up_to=low_up_to,
                limit=CONTRADICTIONS_LISTED,
            )
            return contradiction_rows(found)
    return []


def _grouped_scope(survey: Survey, scope: Scope, by: str | None) -> Scope | None:
    if by is None:
        return None
    if by == Breakdown.SERVICE:
        question = next((q for q in survey.questions if q.kind == QuestionKind.CHOICE), None)
        return None if question is None else replace(scope, by="answer", group_question=question.id)
    if by not in BREAKDOWNS:
        return replace(scope, by="attribute", group_attribute=by)
    grouped: GroupBy = by  # type: ignore[assignment]  # the other breakdowns are storage's own names
    return replace(scope, by=grouped)


@dataclass(frozen=True, slots=True)
class _Counted:
    """A scope's respondents, answers and cases as the database counted them per group."""

    people: list[Respondents]
    answers: list[AnswerTally]
    cases: list[CaseCounts]

    def summed(self) -> _Counted:
        """The counts of all groups together, as one total (group None)."""
        return _Counted(
            [Respondents(None, *_column_sums(self.people))] if self.people else [],
            [row._replace(group=None) for row in self.answers],
            [CaseCounts(None, *_column_sums(self.cases))] if self.cases else [],
        )


def _column_sums(rows: Iterable[tuple[str | None, *tuple[int, ...]]]) -> list[int]:
    """The sum of each count column of group rows (the group first)."""
    return [sum(column) for column in zip(*(counts for _, *counts in rows), strict=True)]


async def _total_counts(session: AsyncSession, scope: Scope, grouped: Scope, counted: _Counted) -> _Counted:
    """The total's counts: the sum of the groups' where each conversation falls in one group (one channel, period,
    option chosen), counted again by attribute, since two invitations may lead to the same conversation."""
    return await _counted(session, scope) if grouped.by == "attribute" else counted.summed()


async def _counted(session: AsyncSession, scope: Scope) -> _Counted:
    return _Counted(
        await tally.respondents(session, scope),
        await tally.answer_tallies(session, scope),
        await reports.case_counts(session, scope),
    )


@dataclass(frozen=True, slots=True)
class _Aggregates:
    """The database's aggregates of one scope, each keyed by group."""

    scores: dict[QuestionKind, dict[str | None, dict[int, int]] | None]
    sentiment: dict[str | None, SentimentCount]
    polarity: dict[str | None, dict[int, int]]
    cases: dict[str | None, CaseCounts]
    to_acknowledge: dict[str | None, Durations]
    to_resolve: dict[str | None, Durations]
    invitations: dict[str | None, reports.Funnel]
    anonymous: bool  # the survey: its invitations are counted only up to their delivery


async def _aggregates(session: AsyncSession, survey: Survey, scope: Scope, counted: _Counted) -> _Aggregates:
    # An invitation's group is known before any answer: the funnel splits by anything but an answer.
    funnel = [] if scope.by == "answer" else await reports.invitation_funnel(session, scope)
    return _Aggregates(
        {kind: _scores(survey, counted.answers, kind) for kind in SCORED_KINDS},
        _sentiments(counted.answers),
        _polarity_histograms(counted.answers),
        {row.group: row for row in counted.cases},
        {row.group: row for row in await reports.case_durations(session, scope, action="acknowledged")},
        {row.group: row for row in await reports.case_durations(session, scope, action="resolved")},
        {row.group: row for row in funnel if row.invitations},
        survey.anonymous,
    )


async def _group_figures(
    session: AsyncSession, survey: Survey, scope: Scope, counted: _Counted, min_group_size: int
) -> list[GroupFigures]:
    """Every group's figures (the total's when `scope` groups by nothing), from the scope's counts and the
    aggregates that cannot be summed from them."""
    found = await _aggregates(session, survey, scope, counted)
    figures = []
    for row in sorted(counted.people, key=lambda row: str(row.group)):
        group = GroupFigures(
            TOTAL if row.group is None else str(row.group), row.respondents, row.anonymous, row.completed
        )
        if too_small(row.respondents, row.anonymous, min_group_size):
            figures.append(group.hide("too few anonymous answers"))
        else:
            figures.append(_figures_of(group, row.group, found))
    return figures


def _figures_of(group: GroupFigures, key: str | None, found: _Aggregates) -> GroupFigures:
    opinions = found.sentiment.get(key)
    csat, nps, ces = (_of_group(found.scores[kind], key) for kind in SCORED_KINDS)
    funnel = found.invitations.get(key)
    return replace(
        group,
        csat=None if csat is None else csat_figures(csat),
        nps=None if nps is None else nps_figures(nps),
        ces=None if ces is None else ces_figures(ces),
        sentiment=None
        if opinions is None
        else sentiment_figures(opinions.labelled, opinions.negative, found.polarity.get(key, {})),
        cases=case_figures(
            found.cases.get(key), found.to_acknowledge.get(key), found.to_resolve.get(key), group.completed
        ),
        invitations=None if funnel is None else invitation_figures(funnel, anonymous=found.anonymous),
    )


SCORED_KINDS = (QuestionKind.CSAT, QuestionKind.NPS, QuestionKind.CES)


def _scores(
    survey: Survey, answers: Iterable[AnswerTally], kind: QuestionKind
) -> dict[str | None, dict[int, int]] | None:
    """The score distribution of the survey's first question of `kind`, per group; None when it asks none."""
    question = next((q for q in survey.questions if q.kind == kind), None)
    if question is None:
        return None
    by_group: defaultdict[str | None, Counter[int]] = defaultdict(Counter)
    for row in answers:
        if row.question_id == question.id and row.value is not None and not row.skipped:
            by_group[row.group][row.value] += row.answers
    return {group: dict(counts) for group, counts in by_group.items()}


def _read(row: AnswerTally) -> bool:
    """Words the analyzer read: their sentiment counts either way."""
    return row.label is not None and row.label != UNKNOWN_LABEL


def _sentiments(answers: Iterable[AnswerTally]) -> dict[str | None, SentimentCount]:
    """Per group with read words: how many, and how many of them negative."""
    labelled: Counter[str | None] = Counter()
    negative: Counter[str | None] = Counter()
    for row in filter(_read, answers):
        labelled[row.group] += row.answers
        negative[row.group] += row.answers if row.label == NEGATIVE_LABEL else 0
    return {group: SentimentCount(group, count, negative[group]) for group, count in labelled.items()}


def _polarity_histograms(answers: Iterable[AnswerTally]) -> dict[str | None, dict[int, int]]:
    """Per group: the read words by polarity bin."""
    bins: defaultdict[str | None, Counter[int]] = defaultdict(Counter)
    for row in filter(_read, answers):
        if row.polarity_bin is not None:
            bins[row.group][row.polarity_bin] += row.answers
    return {group: dict(counts) for group, counts in bins.items()}


def _question_counts(answers: Iterable[AnswerTally]) -> list[QuestionCounts]:
    """Per question: how many answered it and how many skipped it."""
    answered: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for row in answers:
        (skipped if row.skipped else answered)[row.question_id] += row.answers
    return [QuestionCounts(question, answered[question], skipped[question]) for question in answered | skipped]


def _of_group(scores: dict[str | None, dict[int, int]] | None, group: str | None) -> dict[int, int] | None:
    return None if scores is None else scores.get(group, {})


def sentiment_figures(comments: int, negative: int, bins: Mapping[int, int]) -> Sentiment:
    """The share of negative comments, and the histogram of polarity over POLARITY_EDGES' bins."""
    histogram = {label: bins.get(number, 0) for number, label in enumerate(POLARITY_BINS)}
    return Sentiment(comments, negative, _percent(negative, comments), wilson(negative, comments), histogram)


_EDGES = (-1.0, *POLARITY_EDGES, 1.0)
POLARITY_BINS = tuple(f"{low:+.2f}..{high:+.2f}" for low, high in pairwise(_EDGES))
