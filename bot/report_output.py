"""The report as a JSON document for other tools, and as tables for the terminal (rich)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, NamedTuple

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bot.report_stats import Interval
from bot.reports import GroupFigures, Report, SurveyReport

JSON_VERSION = 1


def report_json(report: Report) -> str:
    """The report as JSON: numbers unrounded, percentages in 0-100, each interval as [low, high] (95 %), hidden
    groups with `hidden` set to the reason and every figure null; documented in README.md (Reports)."""
    document: dict[str, Any] = {"version": JSON_VERSION, **asdict(report)}
    return json.dumps(document, ensure_ascii=False, indent=2, default=datetime.isoformat)


def report_tables(report: Report) -> RenderableType:
    """One table per survey (its total, then its groups), with its other tables under it: cases and invitations,
    the previous period, drop-off, sentiment, themes, contradictions, the Pareto of its root causes."""
    parts: list[RenderableType] = [Text(report_title(report), style="bold")]
    for survey in report.surveys:
        parts.append(_survey_table(survey, report.min_group_size))
        parts.extend(_table(table) for table in more_tables(survey))
    return Group(*parts)


class TableData(NamedTuple):
    """A table as both the terminal and the HTML page show it: the same cells, so the same numbers."""

    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]


def _table(data: TableData) -> Table:
    table = Table(title=Text(data.title), title_justify="left")
    for number, name in enumerate(data.columns):
        table.add_column(name, justify="left" if number == 0 or name == "Words" else "right")
    for row in data.rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: no markup in customer words nor group names
    return table


def more_tables(survey: SurveyReport) -> Iterator[TableData]:
    """The survey's tables besides its figures by group, each only when it has rows."""
    shown = [group for group in (survey.total, *survey.groups) if group.hidden is None]
    tables = [
        TableData("Cases and invitations", CASE_COLUMNS, [list(case_cells(group)) for group in shown]),
        TableData("Against the previous period", PREVIOUS_COLUMNS, previous_rows(survey)),
        TableData("Drop-off per question", QUESTION_COLUMNS, question_rows(survey)),
        TableData("Sentiment of the comments (polarity)", HISTOGRAM_COLUMNS, histogram_rows(survey)),
        TableData("Top complaint categories", THEME_COLUMNS, theme_rows(survey, phrases=False)),
        TableData("Top phrases of negative comments", THEME_COLUMNS, theme_rows(survey, phrases=True)),
        TableData("Scores their words contradict", CONTRADICTION_COLUMNS, contradiction_rows(survey)),
        TableData(f"Root causes of {survey.survey}'s cases", PARETO_COLUMNS, pareto_rows(survey)),
    ]
    return (table for table in tables if table.rows)


CASE_COLUMNS = (
    "Group",
    "Invited",
    "Response %",
    "Cases per 100 completed",
    "SLA breaches",
    "Reopened %",
    "Resolved for you: yes %",
)


def case_cells(group: GroupFigures) -> Iterator[str]:
    invited, cases = group.invitations, group.cases
    yield group.group
    yield "-" if invited is None else str(invited.delivered)
    yield "-" if invited is None else _with_interval(invited.response_percent, invited.interval)
    yield "-" if cases is None else _number(cases.per_completed_percent, 1)
    yield "-" if cases is None else str(cases.sla_breaches)
    yield "-" if cases is None else _number(cases.reopen_percent, 1)
    yield "-" if cases is None else _with_interval(cases.resolved_yes_percent, cases.resolved_yes_interval)


PREVIOUS_COLUMNS = ("Figure", "Previous period", "Before", "Now", "Change")


def previous_rows(survey: SurveyReport) -> list[list[str]]:
    before, now = survey.previous, survey.total
    if before is None:
        return []
    period = f"{_when(before.since, '')} to {_when(before.until, '')}"
    csat_now = _with_interval(now.csat.percent, now.csat.interval) if now.csat else "-"
    nps_now = _with_interval(now.nps.score, now.nps.interval) if now.nps else "-"
    return [
        [
            "CSAT %",
            period,
            _with_interval(before.csat_percent, before.csat_interval),
            csat_now,
            before.csat_change or "-",
        ],
        ["NPS", period, _with_interval(before.nps, before.nps_interval), nps_now, before.nps_change or "-"],
    ]


QUESTION_COLUMNS = ("Question", "Reached", "Answered", "Skipped", "Left there", "Answered %")


def question_rows(survey: SurveyReport) -> list[list[str]]:
    return [
        [q.question, str(q.reached), str(q.answered), str(q.skipped), str(q.left), _number(q.answered_percent, 1)]
        for q in survey.questions
    ]


HISTOGRAM_COLUMNS = ("Polarity", "Comments")


def histogram_rows(survey: SurveyReport) -> list[list[str]]:
    sentiment = survey.total.sentiment
    if sentiment is None or not sentiment.comments:
        return []
    return [[bin_label, str(count)] for bin_label, count in sentiment.histogram.items()]


THEME_COLUMNS = ("Theme", "Count", "Previous period", "Change")


def theme_rows(survey: SurveyReport, *, phrases: bool) -> list[list[str]]:
    if survey.themes is None:
        return []
    themes = survey.themes.phrases if phrases else survey.themes.categories
    return [
        [
            t.name,
            str(t.count),
            "-" if t.previous is None else str(t.previous),
            "-" if t.change is None else f"{t.change:+d}",
        ]
        for t in themes
    ]


CONTRADICTION_COLUMNS = ("Started", "Score", "Words say", "Words")


def contradiction_rows(survey: SurveyReport) -> list[list[str]]:
    return [[_when(c.started_at, "-"), str(c.score), c.sentiment, f"“{c.words}”"] for c in survey.contradictions]


PARETO_COLUMNS = ("Root cause", "Cases", "Cumulative %")


def pareto_rows(survey: SurveyReport) -> list[list[str]]:
    return [[row.root_cause, str(row.cases), f"{row.cumulative_percent:.0f}"] for row in survey.root_causes]


def _when(moment: datetime | None, otherwise: str) -> str:
    return otherwise if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


INTERVALS_NOTE = "Intervals: 95 % (Wilson for shares, normal for NPS); a change is shown only when they part."
COLUMNS = (
    "Group",
    "Answers",
    "CSAT %",
    "CSAT mean",
    "NPS",
    "CES mean",
    "Negative %",
    "Cases",
    "Ack h: median (p90)",
    "Resolve h: median (p90)",
    "Change",
)


def _survey_table(survey: SurveyReport, min_group_size: int) -> Table:
    table = Table(title=Text(f"{survey.title} ({survey.survey})"), title_justify="left", caption_justify="left")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("Group", "Change") else "right")
    for group in (survey.total, *survey.groups):
        cells = [Text(cell) for cell in row_cells(group, min_group_size)]  # Text: no markup in a group's name
        table.add_row(*cells, end_section=group is survey.total and bool(survey.groups))
    table.caption = INTERVALS_NOTE
    return table


def row_cells(group: GroupFigures, min_group_size: int) -> Iterator[str]:
    """A group's figures as the tables show them: rounded, with their intervals; the reason of a hidden group."""
    yield group.group
    yield str(group.respondents)
    if group.hidden is not None:
        why = f"fewer than {min_group_size} anonymous answers" if group.hidden.startswith("too few") else group.hidden
        yield f"hidden: {why}"
        yield from [""] * (len(COLUMNS) - 3)
        return
    csat, nps, ces, sentiment, cases = group.csat, group.nps, group.ces, group.sentiment, group.cases
    yield "-" if csat is None else _with_interval(csat.percent, csat.interval)
    yield "-" if csat is None else _number(csat.mean, 2)
    yield "-" if nps is None else _nps(nps.score, nps.interval, nps.promoters, nps.passives, nps.detractors)
    yield "-" if ces is None else _number(ces.mean, 2)
    yield "-" if sentiment is None else _with_interval(sentiment.negative_percent, sentiment.interval)
    yield "-" if cases is None else str(cases.count)
    yield "-" if cases is None else _hours(cases.median_hours_to_acknowledge, cases.p90_hours_to_acknowledge)
    yield "-" if cases is None else _hours(cases.median_hours_to_resolve, cases.p90_hours_to_resolve)
    yield ", ".join(f"{name} {change}" for name, change in group.changes.items())


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _hours(median: float | None, p90: float | None) -> str:
    return "-" if median is None or p90 is None else f"{median:.1f} ({p90:.1f})"


def _with_interval(value: float | None, interval: Interval | None) -> str:
    if value is None or interval is None:
        return "-"
    return f"{value:.1f} ({interval.low:.1f}-{interval.high:.1f})"


def _nps(score: float | None, interval: Interval | None, promoters: int, passives: int, detractors: int) -> str:
    if score is None or interval is None:
        return "-"
    return f"{score:+.0f} ({interval.low:+.0f}..{interval.high:+.0f}) {promoters}/{passives}/{detractors}"


def report_title(report: Report) -> str:
    period = f"{_when(report.since, 'the start')} to {_when(report.until, 'now')}"
    return f"Report from {period}, by {report.by or 'survey'}"
