"""The report as a JSON document for other tools, and as tables for the terminal (rich)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

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
    """One table per survey (its total, then its groups), with the Pareto of its root causes under it."""
    parts: list[RenderableType] = [Text(report_title(report), style="bold")]
    for survey in report.surveys:
        parts.append(_survey_table(survey, report.min_group_size))
        if survey.root_causes:
            parts.append(_pareto_table(survey))
    return Group(*parts)


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


def _pareto_table(survey: SurveyReport) -> Table:
    table = Table(title=f"Root causes of {survey.survey}'s cases", title_justify="left")
    table.add_column("Root cause")
    table.add_column("Cases", justify="right")
    table.add_column("Cumulative %", justify="right")
    for row in survey.root_causes:
        table.add_row(Text(row.root_cause), str(row.cases), f"{row.cumulative_percent:.0f}")
    return table
