"""The weekly digest to staff: the last 7 days against the 7 before (responses, CSAT and NPS with their 95 %
intervals, a change called out only when the intervals say it is real), the oldest open cases and the top root
cause, with a chart of the last weeks. A scheduled job (`ScheduledJob` row "digest") queues it once a week, at the
configured weekday and time in its zone, for every staff destination, whichever of several processes gets there.

Its figures are the report's (bot/reports.py), so that small anonymous groups stay hidden as they are there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox
from bot.config import WEEKDAYS, ConfigError, DigestSettings, Settings
from bot.outbound import StaffDigest
from bot.report_stats import Change, Interval, real_change
from bot.surveys import QuestionKind, Survey
from storage import digest as stored
from storage import schedule
from storage.db import Database
from storage.digest import OpenCase, RootCause

if TYPE_CHECKING:  # the report's modules load when a digest is built, not with `feedbackbot run`
    from bot.reports import Csat, GroupFigures, Nps

JOB = "digest"
WEEK = timedelta(days=7)
CHART_WEEKS = 8  # the chart's weeks, the digest's own last


def next_run(after: datetime, settings: DigestSettings) -> datetime:
    """The first configured weekday and time, in the configured zone, strictly after `after`; in UTC."""
    local = after.astimezone(settings.zone)
    days_ahead = (WEEKDAYS.index(settings.weekday) - local.weekday()) % 7
    for week in (0, 1):
        day = local.date() + timedelta(days=days_ahead + 7 * week)
        run = datetime.combine(day, settings.time, tzinfo=settings.zone).astimezone(UTC)
        if run > after:
            return run
    raise AssertionError("a week later is always after")  # pragma: no cover


def destinations(settings: Settings) -> dict[str, str]:
    """Where the digest goes, by channel: `[digest] destinations`, else each configured channel's staff chat or
    channel. Raises ConfigError for a channel that does not run."""
    configured = settings.configured_channels()
    for channel in settings.digest.destinations:
        if channel not in configured:
            raise ConfigError(f"[digest] destinations: no configured channel {channel!r}")
    if settings.digest.destinations:
        return dict(settings.digest.destinations)
    return {channel: target for channel, section in configured.items() if (target := section.staff_destination)}


@dataclass(frozen=True, slots=True)
class SurveyWeeks:
    """One survey's figures for each week of the chart, oldest first; the last is the digest's week."""

    survey: str
    title: str
    weeks: list[GroupFigures]

    @property
    def this_week(self) -> GroupFigures:
        return self.weeks[-1]

    @property
    def previous_week(self) -> GroupFigures:
        return self.weeks[-2]


@dataclass(frozen=True, slots=True)
class DigestContent:
    since: datetime  # the week's start, 7 days before `until`
    until: datetime
    week_ends: list[datetime]  # the chart's weeks, by their end, oldest first
    surveys: list[SurveyWeeks]
    open_cases: list[OpenCase] | None  # None: not asked for ([digest] open_cases = 0)
    top_root_cause: RootCause | None  # of the cases resolved in the week
    min_group_size: int
    timezone: str

    @property
    def title(self) -> str:
        return f"Weekly digest, {_day(self.since, self.timezone)} to {_day(self.until, self.timezone)}"


async def build_content(
    database: Database, surveys: Iterable[Survey], settings: DigestSettings, *, until: datetime, min_group_size: int
) -> DigestContent:
    """The digest of the 7 days before `until`, with the weeks before it for the chart."""
    from bot.reports import report_title, survey_totals

    chosen = list(surveys)
    week_ends = [until - WEEK * back for back in reversed(range(CHART_WEEKS))]
    totals = await survey_totals(
        database, chosen, [(end - WEEK, end) for end in week_ends], min_group_size=min_group_size
    )
    weeks = [
        SurveyWeeks(survey.id, report_title(survey), [week[index] for week in totals])
        for index, survey in enumerate(chosen)
    ]
    since = until - WEEK
    async with database.snapshot() as session:
        cases = await stored.oldest_open_cases(
            session, limit=settings.open_cases, service_questions=service_questions(chosen)
        )
        causes = await stored.resolved_root_causes(session, since=since, until=until)
    return DigestContent(
        since,
        until,
        week_ends,
        weeks,
        cases if settings.open_cases else None,
        next(iter(causes), None),
        min_group_size,
        settings.timezone,
    )


def service_questions(surveys: Iterable[Survey]) -> dict[str, str]:
    """Each survey's service question (its first choice question, as the report's `--by service`), by survey."""
    found = {}
    for survey in surveys:
        question = next((q for q in survey.questions if q.kind == QuestionKind.CHOICE), None)
        if question is not None:
            found[survey.id] = question.id
    return found


# The text: plain, the bot's own words and the operator's names (survey titles, services, root causes); each
# surface escapes it as it shows it.


def digest_text(content: DigestContent) -> str:
    lines = [content.title]
    shown = [weeks for weeks in content.surveys if weeks.this_week.respondents or weeks.previous_week.respondents]
    if not shown:
        lines += ["", "No answers this week or the week before."]
    for weeks in shown:
        lines += ["", weeks.title, *survey_lines(weeks.this_week, weeks.previous_week, content.min_group_size)]
    if content.open_cases is not None:
        lines += ["", *open_case_lines(content.open_cases, content.until)]
    lines += ["", root_cause_line(content.top_root_cause, content.min_group_size)]
    return "\n".join(lines)


def survey_lines(week: GroupFigures, before: GroupFigures, min_group_size: int) -> list[str]:
    lines = [f"• Responses: {week.respondents} (the week before: {before.respondents})"]
    if week.hidden:
        return [*lines, f"• Scores hidden: fewer than {min_group_size} answers to an anonymous survey"]
    if week.csat is not None and week.csat.answers:
        lines.append("• CSAT: " + _compared(week.csat, before.csat, before.hidden is not None, _percent))
    if week.nps is not None and week.nps.answers:
        lines.append("• NPS: " + _compared(week.nps, before.nps, before.hidden is not None, _points))
    return lines


def _compared(week: Csat | Nps, before: Csat | Nps | None, before_hidden: bool, number: Callable[[float], str]) -> str:
    """This week's figure against the week before's. A hidden week has no figures (bot/reports.py drops them), so
    that no difference tells its scores."""
    now = _figure(week, number)
    if before_hidden:
        return f"{now}; the week before hidden: too few answers to an anonymous survey"
    if before is None or not before.answers:
        return f"{now}; no answers the week before to compare with"
    return (
        f"{now}; the week before {_figure(before, number)}: {change_words(real_change(before.interval, week.interval))}"
    )


def change_words(change: Change | None) -> str:
    if change == "up":
        return "a real rise (the intervals do not overlap)"
    if change == "down":
        return "a real fall (the intervals do not overlap)"
    return "no clear change"


def _figure(figures: Csat | Nps, number: Callable[[float], str]) -> str:
    from bot.reports import Csat

    value = figures.percent if isinstance(figures, Csat) else figures.score
    assert value is not None and figures.interval is not None  # there are answers
    answers = _counted(figures.answers, "answer")
    return f"{number(value)} (95 % interval {_interval(figures.interval, number)}, {answers})"


def _percent(value: float) -> str:
    return f"{value:.0f} %"


def _points(value: float) -> str:
    return f"{value:+.0f}"


def _interval(interval: Interval, number: Callable[[float], str]) -> str:
    return f"{number(interval.low)} to {number(interval.high)}"


def open_case_lines(cases: list[OpenCase], now: datetime) -> list[str]:
    if not cases:
        return ["No open cases."]
    lines = ["Oldest open cases:"]
    for case in cases:
        where = " · ".join(part for part in (case.service, case.survey_id or "/complain", case.channel) if part)
        lines.append(f"• #{case.number}, open {_age(now - case.created_at)} ({where})")
    return lines


def _age(age: timedelta) -> str:
    if age >= timedelta(days=2):
        return f"{age.days} days"
    return _counted(int(age.total_seconds() // 3600), "hour")


def root_cause_line(cause: RootCause | None, min_group_size: int) -> str:
    if cause is None:
        return "Top root cause: no case was resolved with a root cause this week."
    if cause.anonymous and cause.cases < min_group_size:
        return f"Top root cause: hidden, fewer than {min_group_size} cases and some from anonymous surveys."
    return f"Top root cause of the cases resolved this week: {cause.name} ({_counted(cause.cases, 'case')})."


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _day(moment: datetime, timezone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(timezone)):%a %d %b %Y}"


async def chart_png(content: DigestContent) -> bytes:
    """The chart, drawn in a thread: matplotlib, imported there the first time (seconds on a new machine, for its
    font cache), and drawing take time the event loop must not wait for."""
    return await asyncio.to_thread(_drawn, content)


def _drawn(content: DigestContent) -> bytes:
    from bot.digest_chart import digest_chart  # matplotlib: imported only when a digest is built

    return digest_chart(content)


def queue(session: AsyncSession, targets: Mapping[str, str], content: DigestContent, png: bytes, now: datetime) -> None:
    """Adds the digest for every target to the caller's transaction."""
    text = digest_text(content)
    for channel, target in targets.items():
        message = StaffDigest(target=target, title=content.title, text=text, chart_png=png)
        outbox.enqueue(session, channel=channel, message=message, now=now)


class WeeklyDigest:
    """The scheduled job, which the minute's sweep runs: planned at the next configured time when first seen; when
    due, built and then queued in the transaction that moves it to the following week, so a run that fails or loses
    the race to another process queues nothing, and a restart neither repeats nor skips a week."""

    def __init__(
        self,
        database: Database,
        surveys: Mapping[str, Survey],
        settings: DigestSettings,
        targets: Mapping[str, str],
        clock: Callable[[], datetime],
        min_group_size: int,
    ) -> None:
        self._database = database
        self._surveys = surveys
        self._settings = settings
        self._targets = targets
        self._clock = clock
        self._min_group_size = min_group_size

    async def sweep(self) -> bool:
        """Queues the digest if it is due and no other process took this run; whether it did."""
        if not self._settings.enabled or not self._targets:
            return False
        now = self._clock()
        due = await self._planned(now)
        if due > now:
            return False
        content = await build_content(
            self._database, self._surveys.values(), self._settings, until=now, min_group_size=self._min_group_size
        )
        png = await chart_png(content)
        async with self._database.transaction() as session:
            if not await schedule.claim_run(session, job=JOB, now=now, next_due=next_run(now, self._settings)):
                return False
            queue(session, self._targets, content, png, now)
        return True

    async def _planned(self, now: datetime) -> datetime:
        """When the digest is next due: planned at the next configured time on the first sweep, and planned anew
        from now when [digest] weekday, time or timezone changed since (the time kept is not one they give)."""
        async with self._database.snapshot() as session:
            due = await schedule.due_at(session, job=JOB)
        if due is not None and next_run(due - timedelta(seconds=1), self._settings) == due:
            return due
        wanted = next_run(now, self._settings)
        async with self._database.transaction() as session:
            if due is None:
                await schedule.plan(session, job=JOB, due_at=wanted)
            else:
                await schedule.replan(session, job=JOB, was=due, due_at=wanted)
        return wanted
