"""The report as one self-contained HTML page: its tables and plotly charts, with plotly.js inline (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import plotly.graph_objects as go
import plotly.io
import plotly.offline

from bot.report_output import COLUMNS, INTERVALS_NOTE, TableData, more_tables, report_title, row_cells
from bot.report_stats import Interval
from bot.reports import GroupFigures, Report, SurveyReport

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}
.hidden{color:#888}.charts{display:flex;flex-wrap:wrap}.charts>div{width:560px}"""


def report_html(report: Report) -> str:
    sections = "".join(_survey_section(survey, report.min_group_size) for survey in report.surveys)
    title = escape(report_title(report))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
        f"<script>{plotly.offline.get_plotlyjs()}</script></head>"
        f"<body><h1>{title}</h1><p>{escape(INTERVALS_NOTE)}</p>{sections}</body></html>"
    )


def _survey_section(survey: SurveyReport, min_group_size: int) -> str:
    header = "".join(f"<th>{escape(name)}</th>" for name in COLUMNS)
    rows = "".join(_row(group, min_group_size) for group in (survey.total, *survey.groups))
    charts = "".join(
        plotly.io.to_html(figure, full_html=False, include_plotlyjs=False) for figure in survey_figures(survey)
    )
    tables = "".join(_table(table) for table in more_tables(survey))
    return (
        f"<section><h2>{escape(survey.title)} ({escape(survey.survey)})</h2>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        f'{tables}<div class="charts">{charts}</div></section>'
    )


def _table(data: TableData) -> str:
    """A table of the terminal's cells, every one escaped: group names and customer words are not markup."""
    header = "".join(f"<th>{escape(name)}</th>" for name in data.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in data.rows)
    return f"<h3>{escape(data.title)}</h3><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _row(group: GroupFigures, min_group_size: int) -> str:
    cells = "".join(f"<td>{escape(cell)}</td>" for cell in row_cells(group, min_group_size))
    return f'<tr class="{"hidden" if group.hidden else "shown"}">{cells}</tr>'


def survey_figures(survey: SurveyReport) -> list[go.Figure]:
    """CSAT and NPS per group with their intervals, the CSAT and CES distributions of the total, the Pareto of root
    causes: each drawn only when it has something to show. Hidden groups are left out."""
    shown = [group for group in survey.groups or [survey.total] if group.hidden is None]
    csat = [(g.group, g.csat.percent, g.csat.interval) for g in shown if g.csat and g.csat.percent is not None]
    nps = [(g.group, g.nps.score, g.nps.interval) for g in shown if g.nps and g.nps.score is not None]
    figures = []
    if csat:
        figures.append(_with_intervals("CSAT % (95 % interval)", csat))
    if nps:
        figures.append(_with_intervals("NPS (95 % interval)", nps))
    total = survey.total
    for name, distribution in (
        ("CSAT", total.csat.distribution if total.csat and total.csat.answers else None),
        ("CES", total.ces.distribution if total.ces and total.ces.answers else None),
    ):
        if distribution:
            bars = go.Bar(x=[str(score) for score in distribution], y=list(distribution.values()))
            figures.append(go.Figure(bars, layout={"title": f"{name} scores (all)"}))
    figures.extend(_more_figures(survey))
    return figures


FUNNEL_STEPS = ("invitations", "delivered", "started", "completed")


def _more_figures(survey: SurveyReport) -> Iterator[go.Figure]:
    """The response funnel, the sentiment histogram, the Pareto of root causes and the top complaint themes."""
    total = survey.total
    if total.invitations is not None:
        counts = {step: getattr(total.invitations, step) for step in FUNNEL_STEPS}
        steps = {step: count for step, count in counts.items() if count is not None}  # anonymous: to delivery
        yield go.Figure(go.Funnel(y=list(steps), x=list(steps.values())), layout={"title": "Response funnel"})
    if total.sentiment is not None and total.sentiment.comments:
        bins = total.sentiment.histogram
        bars = go.Bar(x=list(bins), y=list(bins.values()))
        yield go.Figure(bars, layout={"title": "Sentiment of the comments (polarity)"})
    if survey.root_causes:
        yield _pareto(survey)
    if survey.themes is not None and survey.themes.phrases:
        phrases = survey.themes.phrases[::-1]  # plotly draws the first bar at the bottom
        bars = go.Bar(x=[t.count for t in phrases], y=[chart_label(t.name) for t in phrases], orientation="h")
        yield go.Figure(bars, layout={"title": "Top phrases of negative comments"})


def chart_label(words: str) -> str:
    """Words plotly shows as they are: its labels read tags such as <a href> and <b>, and group names (invitation
    attributes from API callers) and phrases (customers' words) must not become a link or markup."""
    return escape(words, quote=False)


def _with_intervals(title: str, points: list[tuple[str, float, Interval | None]]) -> go.Figure:
    names, values = [chart_label(name) for name, _, _ in points], [value for _, value, _ in points]
    above = [interval.high - value if interval else 0 for _, value, interval in points]
    below = [value - interval.low if interval else 0 for _, value, interval in points]
    errors = {"type": "data", "symmetric": False, "array": above, "arrayminus": below}
    return go.Figure(go.Scatter(x=names, y=values, error_y=errors, mode="markers+lines"), layout={"title": title})


def _pareto(survey: SurveyReport) -> go.Figure:
    causes = [chart_label(row.root_cause) for row in survey.root_causes]
    figure = go.Figure(go.Bar(x=causes, y=[row.cases for row in survey.root_causes], name="cases"))
    cumulative = [row.cumulative_percent for row in survey.root_causes]
    figure.add_trace(go.Scatter(x=causes, y=cumulative, name="cumulative %", yaxis="y2", mode="lines+markers"))
    figure.update_layout(title="Root causes (Pareto)", yaxis2={"overlaying": "y", "side": "right", "range": [0, 100]})
    return figure
