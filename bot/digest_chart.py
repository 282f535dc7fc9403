"""The digest's chart: CSAT % and NPS by week, each with its 95 % interval as an error bar, one line per survey; a
week without answers, or hidden, has no point. matplotlib's object API on the Agg canvas: no pyplot, no display, no
global state, so that it may be drawn in a thread. Imported only when a digest is built."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.digest import DigestContent, SurveyWeeks
from bot.reports import Csat, GroupFigures, Nps

SURVEY_SHIFT = 0.08  # of a week, between the points of two surveys in one week


def digest_chart(content: DigestContent) -> bytes:
    """The chart as PNG bytes."""
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    csat_axes, nps_axes = figure.subplots(2, 1, sharex=True)
    figure.suptitle(content.title)
    labels = [_week_label(end, content.timezone) for end in content.week_ends]
    _plot(csat_axes, content.surveys, _csat_point, "CSAT %", (0, 100))
    _plot(nps_axes, content.surveys, _nps_point, "NPS", (-100, 100))
    nps_axes.set_xticks(range(len(labels)), labels)
    nps_axes.set_xlabel("week ending")
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _plot(
    axes: Axes,
    surveys: list[SurveyWeeks],
    point: Callable[[GroupFigures], tuple[float, float, float] | None],
    label: str,
    limits: tuple[float, float],
) -> None:
    axes.set_ylabel(label)
    axes.set_ylim(*limits)
    axes.grid(axis="y", alpha=0.3)
    drawn = False
    for index, survey in enumerate(surveys):
        shift = (index - (len(surveys) - 1) / 2) * SURVEY_SHIFT  # side by side, so that their error bars show
        points = [(week + shift, *found) for week, figures in enumerate(survey.weeks) if (found := point(figures))]
        if not points:
            continue
        weeks, values, lows, highs = zip(*points, strict=True)
        errors = [
            [v - low for v, low in zip(values, lows, strict=True)],
            [h - v for v, h in zip(values, highs, strict=True)],
        ]
        axes.errorbar(weeks, values, yerr=errors, marker="o", capsize=4, label=plain_label(survey.title))
        drawn = True
    if drawn:
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no answers", transform=axes.transAxes, ha="center", va="center", color="grey")


def _csat_point(figures: GroupFigures) -> tuple[float, float, float] | None:
    return _point(None if figures.hidden else figures.csat)


def _nps_point(figures: GroupFigures) -> tuple[float, float, float] | None:
    return _point(None if figures.hidden else figures.nps)


def _point(figures: Csat | Nps | None) -> tuple[float, float, float] | None:
    if figures is None or figures.interval is None:
        return None
    value = figures.percent if isinstance(figures, Csat) else figures.score
    return None if value is None else (value, figures.interval.low, figures.interval.high)


def _week_label(end: datetime, timezone: str) -> str:
    return f"{end.astimezone(ZoneInfo(timezone)):%d %b}"


def plain_label(title: str) -> str:
    """A title matplotlib shows as written: `$` would start its maths and a leading `_` hide it from the legend."""
    return title.replace("$", r"\$").lstrip("_") or "survey"
