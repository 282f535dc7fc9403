"""The overview's filters, read from the query string as the `feedbackbot report` options are from the command line."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from starlette.datastructures import QueryParams

from bot.reports import Breakdown


class FilterError(ValueError):
    """A filter the dashboard cannot read; the message names it."""


@dataclass(frozen=True, slots=True)
class Filters:
    """`since` and `until` are UTC midnights (`until` not included); no survey: every survey; no breakdown: totals."""

    since: datetime | None = None
    until: datetime | None = None
    survey: str | None = None
    by: Breakdown | None = None


DEFAULT_WEEKS = 12  # what the first page counts: this week and the 11 before, not every answer ever given


def read_filters(query: QueryParams, surveys: Collection[str], today: date) -> Filters:
    """The filters of the query string; an empty field is no filter. Without a `since` field at all (the first
    page), the last `DEFAULT_WEEKS` weeks from their Monday: with a year of answers the first page counts a quarter."""
    survey = query.get("survey") or None
    if survey is not None and survey not in surveys:
        raise FilterError(f"survey: there is no survey {survey!r}")
    by = query.get("by") or None
    if by is not None and by not in Breakdown.__members__.values():
        raise FilterError(f"by: choose one of {', '.join(Breakdown)}")
    since = _midnight(query, "since") if "since" in query else _weeks_before(today, DEFAULT_WEEKS)
    until = _midnight(query, "until")
    if since and until and until <= since:
        raise FilterError("until: must be after since")
    return Filters(since, until, survey, Breakdown(by) if by else None)


def _midnight(query: QueryParams, name: str) -> datetime | None:
    """The UTC midnight starting the day given as YYYY-MM-DD (what a date field sends)."""
    given = query.get(name) or None
    if given is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(given), time(), tzinfo=UTC)
    except ValueError:
        raise FilterError(f"{name}: not a date (YYYY-MM-DD)") from None


def _weeks_before(today: date, weeks: int) -> datetime:
    """The UTC midnight of the Monday that starts the `weeks` weeks ending with today's."""
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday - timedelta(weeks=weeks - 1), time(), tzinfo=UTC)
