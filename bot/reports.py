"""The report: per survey and group, CSAT, NPS, CES, sentiment and cases with their intervals, from the database's
aggregates (storage/reports.py); groups too small for an anonymous survey hidden, also from subtraction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.report_stats import Change, Interval, median_or_none, nps_interval, p90_or_none, real_change, wilson
from bot.surveys import QuestionKind, Survey
from storage import reports
from storage.db import Database
from storage.reports import CaseTimes, GroupBy, Scope

SATISFIED_AT_LEAST = 4  # CSAT %: the share of 4s and 5s
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


@dataclass(frozen=True, slots=True)
class Cases:
    count: int
    acknowledged: int
    resolved: int
    median_hours_to_acknowledge: float | None
    median_hours_to_resolve: float | None
    p90_hours_to_acknowledge: float | None
    p90_hours_to_resolve: float | None


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
    root_causes: list[ParetoRow]  # empty when the total is hidden


@dataclass(frozen=True, slots=True)
class Report:
    since: datetime | None
    until: datetime | None
    by: Breakdown | None
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


def case_figures(cases: list[CaseTimes]) -> Cases:
    to_ack = [(c.acknowledged_at - c.created_at).total_seconds() / HOUR for c in cases if c.acknowledged_at]
    to_resolve = [(c.resolved_at - c.created_at).total_seconds() / HOUR for c in cases if c.resolved_at]
    return Cases(
        len(cases),
        len(to_ack),
        len(to_resolve),
        median_or_none(to_ack),
        median_or_none(to_resolve),
        p90_or_none(to_ack),
        p90_or_none(to_resolve),
    )


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
    by: Breakdown | None,
    min_group_size: int,
) -> Report:
    async with database.snapshot() as session:
        built = []
        for survey in surveys:
            scope = Scope(survey.id, since, until)
            total = await _group_figures(session, survey, scope, min_group_size)
            [total_figures] = total or [GroupFigures(TOTAL, 0, 0, 0)]
            grouped = _grouped_scope(survey, scope, by)
            groups = await _group_figures(session, survey, grouped, min_group_size) if grouped else []
            groups = hide_small_groups(groups, min_group_size)
            if by is not None and by.is_period:
                groups = mark_changes(groups)
            causes = [] if total_figures.hidden else pareto(await reports.root_causes(session, scope))
            built.append(
                SurveyReport(
                    survey.id, survey.text(survey.title, survey.fallback_language), total_figures, groups, causes
                )
            )
    return Report(since, until, by, min_group_size, built)


def _grouped_scope(survey: Survey, scope: Scope, by: Breakdown | None) -> Scope | None:
    if by is None:
        return None
    if by == Breakdown.SERVICE:
        question = next((q for q in survey.questions if q.kind == QuestionKind.CHOICE), None)
        return None if question is None else replace(scope, by="answer", group_question=question.id)
    grouped: GroupBy = by.value  # type: ignore[assignment]  # the other breakdowns are storage's own names
    return replace(scope, by=grouped)


async def _group_figures(
    session: AsyncSession, survey: Survey, scope: Scope, min_group_size: int
) -> list[GroupFigures]:
    """Every group's figures (the total's when `scope` groups by nothing), from one aggregate query per figure."""
    people = await reports.respondents(session, scope)
    scores = {kind: await _scores(session, survey, scope, kind) for kind in SCORED_KINDS}
    sentiment = {row.group: row for row in await reports.sentiment_counts(session, scope)}
    cases: defaultdict[str | None, list[CaseTimes]] = defaultdict(list)
    for case in await reports.case_times(session, scope):
        cases[case.group].append(case)
    figures = []
    for row in sorted(people, key=lambda row: str(row.group)):
        group = GroupFigures(
            TOTAL if row.group is None else str(row.group), row.respondents, row.anonymous, row.completed
        )
        if too_small(row.respondents, row.anonymous, min_group_size):
            figures.append(group.hide("too few anonymous answers"))
            continue
        opinions = sentiment.get(row.group)
        csat, nps, ces = (_of_group(scores[kind], row.group) for kind in SCORED_KINDS)
        figures.append(
            replace(
                group,
                csat=None if csat is None else csat_figures(csat),
                nps=None if nps is None else nps_figures(nps),
                ces=None if ces is None else ces_figures(ces),
                sentiment=None if opinions is None else sentiment_figures(opinions.labelled, opinions.negative),
                cases=case_figures(cases[row.group]),
            )
        )
    return figures


SCORED_KINDS = (QuestionKind.CSAT, QuestionKind.NPS, QuestionKind.CES)


async def _scores(
    session: AsyncSession, survey: Survey, scope: Scope, kind: QuestionKind
) -> dict[str | None, dict[int, int]] | None:
    """The score distribution of the survey's first question of `kind`, per group; None when it asks none."""
    question = next((q for q in survey.questions if q.kind == kind), None)
    if question is None:
        return None
    by_group: defaultdict[str | None, dict[int, int]] = defaultdict(dict)
    for row in await reports.score_counts(session, scope, question_id=question.id):
        by_group[row.group][row.value] = row.answers
    return by_group


def _of_group(scores: dict[str | None, dict[int, int]] | None, group: str | None) -> dict[int, int] | None:
    return None if scores is None else scores.get(group, {})


def sentiment_figures(comments: int, negative: int) -> Sentiment:
    return Sentiment(comments, negative, 100 * negative / comments if comments else None, wilson(negative, comments))
