"""The daily tallies a report reads its answers, respondents and stops from count what the answers themselves count
(storage/reports.py's scans), on both databases: at every period edge, after answers change, conversations
complete or expire, and after erasures; an answer stamped before the last fold but written after it still counts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import Engine
from bot.events import Forget
from bot.reports import Breakdown, Report, build_report, fold_tallies
from bot.surveys import Survey
from storage import reports, tally
from storage.db import Database
from storage.reports import AnswerTally, GroupBy, Respondents, Scope, Stopped
from storage.retention import clear_free_text
from tests.bot.customer import Customer, question_of
from tests.conftest import Clock

RUDE = "The courier was rude and the parcel late"  # scored negative
KIND = "Lovely service, thank you"  # scored positive
GROUPINGS: tuple[GroupBy | None, ...] = (None, "channel", "day", "week", "month")
THURSDAY = datetime(2026, 11, 26, tzinfo=UTC)  # the clock's first day (it starts at 9:00)
PERIODS = (  # (since, until): none, mid-day edges, whole days, within a day, across the week's and month's end
    (None, None),
    (THURSDAY + timedelta(hours=13), THURSDAY + timedelta(days=4, hours=5)),
    (THURSDAY, THURSDAY + timedelta(days=3)),
    (THURSDAY + timedelta(days=1, hours=2), THURSDAY + timedelta(days=1, hours=20)),
    (THURSDAY + timedelta(days=3, hours=23), None),
    (None, THURSDAY + timedelta(days=5, hours=1)),
)


async def answer_csat(engine: Engine, user: str, channel: str, score: int, words: str | None) -> Customer:
    customer = Customer(engine, user_id=user, channel=channel)
    await customer.start("csat")
    await customer.say(str(score))
    await customer.say(words or "skip", message_ref=f"{user}-words")
    return customer


async def answer_internal(engine: Engine, user: str, channel: str, quality: int) -> None:
    """An anonymous survey, left at its second question."""
    customer = Customer(engine, user_id=user, channel=channel)
    await customer.start("internal-service")
    await customer.press("hr")
    await customer.press(str(quality))


async def fill(engine: Engine, clock: Clock) -> None:
    """Answers every seven hours over six days, on two channels; some surveys left open or unanswered."""
    for number in range(20):
        channel = ("telegram", "slack")[number % 2]
        await answer_csat(engine, f"user-{number}", channel, number % 5 + 1, (RUDE, KIND, None)[number % 3])
        await answer_internal(engine, f"staff-{number}", channel, number % 5 + 1)
        if number % 4 == 0:
            await Customer(engine, user_id=f"idle-{number}", channel=channel).start("csat")
        clock.advance(hours=7)


def summed(rows: Iterable[tuple[object, ...]], counts: int) -> dict[tuple[object, ...], tuple[int, ...]]:
    """Rows with the same key (all but the last `counts` columns) added up."""
    sums: dict[tuple[object, ...], list[int]] = {}
    for row in rows:
        total = sums.setdefault(tuple(row[:-counts]), [0] * counts)
        for number, count in enumerate(row[-counts:]):
            assert isinstance(count, int)
            total[number] += count
    return {key: tuple(total) for key, total in sums.items()}


async def counted_both_ways(database: Database, scope: Scope) -> list[tuple[object, object]]:
    """(tallied, scanned) for the scope's answers, respondents and stops."""
    async with database.snapshot() as session:
        tallied_answers: list[AnswerTally] = await tally.answer_tallies(session, scope)
        scanned_answers = await reports.answer_tallies(session, scope)
        tallied_people: list[Respondents] = await tally.respondents(session, scope)
        scanned_people = await reports.respondents(session, scope)
        stops: list[tuple[list[Stopped], list[Stopped]]] = []
        if scope.by is None:
            stops.append((await tally.stopped(session, scope), await reports.stopped(session, scope)))
    return [
        (summed(tallied_answers, 2), summed(scanned_answers, 2)),
        (summed(tallied_people, 3), summed(scanned_people, 3)),
        *((summed(tallied, 1), summed(scanned, 1)) for tallied, scanned in stops),
    ]


async def assert_tallies_match_the_answers(database: Database, surveys: Iterable[str]) -> None:
    await fold_tallies(database)
    for survey in surveys:
        for since, until in PERIODS:
            for by in GROUPINGS:
                for tallied, scanned in await counted_both_ways(database, Scope(survey, since, until, by)):
                    assert tallied == scanned, (survey, since, until, by)


async def csat_report(database: Database, survey: Survey, by: Breakdown | None = None) -> Report:
    return await build_report(database, [survey], since=None, until=None, by=by, min_group_size=5)


async def test_the_tallies_count_what_the_answers_do_at_every_period_edge(
    engine: Engine, database: Database, clock: Clock
) -> None:
    await fill(engine, clock)

    await assert_tallies_match_the_answers(database, ("csat", "internal-service", "nps"))
    tallied, _ = (await counted_both_ways(database, Scope("csat", by="week")))[1]
    # every 7 hours from Thursday 9:00: 13 before Monday 30 November (87 hours later), 7 after
    assert tallied == {("2026-11-23",): (13, 0, 13), ("2026-11-30",): (7, 0, 7)}


async def test_a_month_of_answers_is_folded_in_short_recounts_that_count_it_all(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    for number in range(24):  # every 31 hours: a month, in runs of at most a week each
        await answer_csat(engine, f"user-{number}", ("telegram", "slack")[number % 2], number % 5 + 1, RUDE)
        clock.advance(hours=31)

    async with database.snapshot() as session:
        fold = await tally.changes(session)
    assert len(fold.batches) > 1 and all(sum((d.end - d.first).days for d in b) <= 7 for b in fold.batches)
    await assert_tallies_match_the_answers(database, ("csat",))
    [survey] = (await csat_report(database, surveys["csat"], Breakdown.MONTH)).surveys
    assert {group.group: group.respondents for group in survey.groups} == {"2026-11": 4, "2026-12": 20}


async def test_answers_changed_added_completed_and_expired_after_a_fold_are_counted_again(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    await fill(engine, clock)
    first = await csat_report(database, surveys["csat"])  # folds
    assert first.surveys[0].total.csat is not None and first.surveys[0].total.csat.distribution[1] == 4

    await Customer(engine, user_id="user-1", channel="slack").edit("user-1-words", RUDE)  # kind words turned rude
    late = Customer(engine, user_id="late", channel="telegram")
    asked = question_of(await late.start("csat"))
    await late.say("5")
    await late.press("1", asked)  # the score changed while the survey is open
    await answer_csat(engine, "new", "slack", 1, RUDE)
    clock.advance(days=4)
    await engine.conversations.expire_overdue()  # the idle surveys close unfinished

    await assert_tallies_match_the_answers(database, ("csat", "internal-service"))
    [survey] = (await csat_report(database, surveys["csat"])).surveys
    assert survey.total.csat is not None and survey.total.csat.distribution[1] == 6  # 4, the new one and the change
    assert survey.total.respondents == first.surveys[0].total.respondents + 2


async def test_an_answer_stamped_before_the_last_fold_but_written_after_it_is_counted(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    """A transaction that took its time before its commit, behind the fold, as a busy writer's queue may make one."""
    await answer_csat(engine, "early", "slack", 5, None)
    clock.advance(minutes=5)
    await answer_csat(engine, "later", "slack", 4, None)
    await fold_tallies(database)

    clock.advance(minutes=-3)  # stamped between the two answers the fold saw
    await answer_csat(engine, "slow", "slack", 1, RUDE)

    [survey] = (await csat_report(database, surveys["csat"])).surveys
    assert survey.total.csat is not None and survey.total.csat.distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1}


async def test_an_answer_from_a_process_whose_clock_is_behind_anothers_is_counted(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    """Processes sharing a database stamp with their own clocks: one 20 minutes fast moves the fold's mark ahead of
    the others' stamps, and their answers must still be counted."""
    await answer_csat(engine, "first", "slack", 5, None)
    clock.advance(minutes=20)
    await answer_internal(engine, "fast-clock", "slack", 4)
    await fold_tallies(database)

    clock.advance(minutes=-19)  # the other process, a minute after the first answer by the right time
    await answer_csat(engine, "right-clock", "slack", 1, RUDE)
    clock.advance(days=1)
    await answer_csat(engine, "next-day", "slack", 4, None)

    await assert_tallies_match_the_answers(database, ["csat"])


async def test_erasures_leave_every_figure_as_it_was(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    await fill(engine, clock)
    before = await csat_report(database, surveys["csat"], Breakdown.CHANNEL)

    for number in range(0, 20, 3):  # /forget, then the retention's scrub of every word
        await Customer(engine, user_id=f"user-{number}", channel=("telegram", "slack")[number % 2]).send(Forget)
    async with database.transaction() as session:
        await clear_free_text(session, before=clock() + timedelta(days=1))

    await assert_tallies_match_the_answers(database, ("csat", "internal-service"))
    after = await csat_report(database, surveys["csat"], Breakdown.CHANNEL)
    [was], [now] = before.surveys, after.surveys
    assert (now.total, now.groups, now.questions) == (was.total, was.groups, was.questions)
    assert now.themes is not None and now.themes.comments_read == 0  # no words left to find phrases in


@pytest.mark.parametrize("by", [Breakdown.WEEK, Breakdown.CHANNEL])
async def test_small_anonymous_groups_stay_hidden_when_counted_from_the_tallies(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey], by: Breakdown
) -> None:
    for number in range(7):  # Thursday to Saturday: the week of 23 November
        await answer_internal(engine, f"early-{number}", "slack", 5)
        clock.advance(hours=9)
    clock.now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for number in range(2):  # the next week, on another channel
        await answer_internal(engine, f"late-{number}", "telegram", 1)

    [survey] = (await csat_report(database, surveys["internal-service"], by)).surveys

    shown = {group.group: (group.respondents, group.hidden) for group in survey.groups}
    small, large = ("2026-11-30", "2026-11-23") if by == Breakdown.WEEK else ("telegram", "slack")
    assert shown == {small: (2, "too few anonymous answers"), large: (7, "would reveal a hidden group by subtraction")}
    assert survey.total.csat is not None and survey.total.csat.answers == 9


async def test_a_periods_cases_are_those_of_its_surveys_whenever_the_cases_opened(
    engine: Engine, database: Database, clock: Clock, surveys: dict[str, Survey]
) -> None:
    """Read from the cases opened since the period's start: a survey started before it is left out even when its
    case opened within it, one started within it counted."""
    before = Customer(engine, user_id="before", channel="slack")
    await before.start("csat")
    clock.advance(minutes=30)
    since = clock()
    clock.advance(minutes=30)
    await before.say("1")  # its case opens within the period
    await answer_csat(engine, "within", "slack", 2, RUDE)

    built = await build_report(database, [surveys["csat"]], since=since, until=None, by=None, min_group_size=1)

    [survey] = built.surveys
    assert survey.total.cases is not None and survey.total.cases.count == 1
    assert survey.total.respondents == 1
