"""The weekly digest against hand-computed figures, on both databases: the week against the week before with a
change called out only when the 95 % intervals do not overlap, small anonymous groups hidden, the oldest open
cases, the top root cause, the chart; and its schedule under the test's clock: due, not due, across restarts, once
however many processes sweep."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, time

from PIL import Image
from sqlmodel import col, select

from bot.cases import CaseDesk, Cases
from bot.config import DigestSettings
from bot.digest import WeeklyDigest, build_content, chart_png, digest_text, next_run
from bot.engine import Engine
from bot.outbound import StaffDigest, decode
from bot.surveys import Survey
from storage.db import Database
from storage.models import OutboxMessage
from tests.bot.customer import Customer
from tests.conftest import Clock

TARGETS = {"slack": "CSTAFF01", "telegram": "-100123"}
BERLIN_MONDAY_9 = DigestSettings(weekday="monday", time=time(9, 0), timezone="Europe/Berlin")


async def answer_csat(engine: Engine, user: str, score: int) -> None:
    customer = Customer(engine, user_id=user)
    await customer.start("csat")
    await customer.say(str(score))
    await customer.say("skip")


async def answer_nps(engine: Engine, user: str, score: int) -> None:
    customer = Customer(engine, user_id=user)
    await customer.start("nps")
    await customer.say(str(score))


async def answer_internal_service(engine: Engine, user: str, service: str, quality: int) -> None:
    customer = Customer(engine, user_id=user)
    await customer.start("internal-service")
    await customer.press(service)
    await customer.say(str(quality))
    await customer.say("3")
    await customer.say("skip")


def only(surveys: dict[str, Survey], *names: str) -> dict[str, Survey]:
    """The surveys a test digests: each costs the chart's eight weekly totals at every digest, and a test
    asserts the figures of the surveys it answers (the schedule's tests, when the digest is queued). The digest of
    every survey is `test_with_no_answers_the_digest_says_so`'s."""
    return {name: surveys[name] for name in names}


async def digest_lines(
    database: Database, surveys: dict[str, Survey], clock: Clock, min_group_size: int = 5
) -> list[str]:
    content = await build_content(
        database, surveys.values(), DigestSettings(), until=clock(), min_group_size=min_group_size
    )
    return digest_text(content).splitlines()


async def test_a_real_rise_is_called_out_and_an_overlap_is_no_clear_change(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    for user, score in [("a1", 3), ("a2", 3), ("a3", 3), ("a4", 3)]:  # the week before: 0 of 4 satisfied
        await answer_csat(engine, user, score)
    clock.advance(days=7)
    for user, score in [("b1", 5), ("b2", 5), ("b3", 5), ("b4", 5)]:  # this week: 4 of 4
        await answer_csat(engine, user, score)
    await answer_nps(engine, "c1", 10)
    await answer_nps(engine, "c2", 0)
    clock.advance(hours=1)

    lines = await digest_lines(database, only(surveys, "csat", "nps"), clock)

    assert lines[0] == "Weekly digest, Thu 26 Nov 2026 to Thu 03 Dec 2026"
    csat = lines.index("Customer satisfaction")
    # Wilson: 4 of 4 is 51.01 to 100 %, 0 of 4 is 0 to 48.99 %: apart, so the rise is real.
    assert lines[csat + 1 : csat + 3] == [
        "• Responses: 4 (the week before: 4)",
        "• CSAT: 100 % (95 % interval 51 % to 100 %, 4 answers); the week before 0 % (95 % interval 0 % to 49 %, "
        "4 answers): a real rise (the intervals do not overlap)",
    ]
    nps = lines.index("Recommendation")
    # One promoter, one detractor: NPS 0 ± 1.96·√(1/2) points, clipped to the scale.
    assert lines[nps + 1 : nps + 3] == [
        "• Responses: 2 (the week before: 0)",
        "• NPS: +0 (95 % interval -100 to +100, 2 answers); no answers the week before to compare with",
    ]

    clock.advance(days=7)
    for user, score in [("d1", 5), ("d2", 5), ("d3", 5), ("d4", 3)]:  # 3 of 4 after 4 of 4: intervals overlap
        await answer_csat(engine, user, score)
    clock.advance(hours=1)
    lines = await digest_lines(database, only(surveys, "csat", "nps"), clock)
    csat = lines.index("Customer satisfaction")
    assert lines[csat + 2] == (
        "• CSAT: 75 % (95 % interval 30 % to 95 %, 4 answers); the week before 100 % (95 % interval 51 % to 100 %, "
        "4 answers): no clear change"
    )


async def test_with_no_answers_the_digest_says_so(database: Database, surveys: dict[str, Survey], clock: Clock) -> None:
    content = await build_content(database, surveys.values(), DigestSettings(), until=clock(), min_group_size=5)

    assert digest_text(content).splitlines()[1:] == [
        "",
        "No answers this week or the week before.",
        "",
        "No open cases.",
        "",
        "Top root cause: no case was resolved with a root cause this week.",
    ]
    png = await chart_png(content)
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # decodes every chunk and checks its CRC
        assert (image.format, image.size) == ("PNG", (800, 600))


async def test_oldest_open_cases_and_top_root_cause_hidden_while_few_and_anonymous(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    await Customer(engine, user_id="early").complain("The parcel never came")  # case 1, of no survey
    clock.advance(days=7)
    await answer_internal_service(engine, "e1", "facilities", 1)  # case 2, anonymous
    await answer_internal_service(engine, "e2", "hr", 1)  # case 3, anonymous
    cases = Cases(database, CaseDesk(), clock)
    await cases.acknowledge(2, "staff")
    await cases.resolve(2, "staff", corrective_action="Fixed the heating", root_cause="process", message=None)
    clock.advance(hours=1)
    digested = only(surveys, "internal-service")

    lines = await digest_lines(database, digested, clock)

    service = lines.index("Internal service feedback")
    assert lines[service + 1 : service + 3] == [
        "• Responses: 2 (the week before: 0)",
        "• Scores hidden: fewer than 5 answers to an anonymous survey",
    ]
    assert "The parcel never came" not in "\n".join(lines)  # no customer's words
    cases_from = lines.index("Oldest open cases:")
    assert lines[cases_from + 1 : cases_from + 3] == [
        "• #1, open 7 days (/complain · test)",
        "• #3, open 1 hour (hr · internal-service · test)",
    ]
    assert lines[-1] == "Top root cause: hidden, fewer than 5 cases and some from anonymous surveys."
    shown = await digest_lines(database, digested, clock, min_group_size=1)
    assert shown[-1] == "Top root cause of the cases resolved this week: process (1 case)."
    unlisted = await build_content(
        database, digested.values(), DigestSettings(open_cases=0), until=clock(), min_group_size=5
    )
    assert "Oldest open cases:" not in digest_text(unlisted)


def test_the_next_run_is_the_configured_weekday_and_time_in_its_zone() -> None:
    thursday = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert next_run(thursday, BERLIN_MONDAY_9) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 CET is 08:00 UTC
    at_the_time = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert next_run(at_the_time, BERLIN_MONDAY_9) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # strictly after
    summer = datetime(2026, 6, 29, 6, 59, tzinfo=UTC)  # a Monday, 08:59 CEST
    assert next_run(summer, BERLIN_MONDAY_9) == datetime(2026, 6, 29, 7, 0, tzinfo=UTC)


def weekly(database: Database, surveys: dict[str, Survey], clock: Clock) -> WeeklyDigest:
    return WeeklyDigest(database, only(surveys, "csat"), BERLIN_MONDAY_9, TARGETS, clock, min_group_size=5)


async def queued_digests(database: Database) -> list[tuple[str, StaffDigest]]:
    async with database.snapshot() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        messages = [(row.channel, decode(row.payload)) for row in rows]
    return [(channel, message) for channel, message in messages if isinstance(message, StaffDigest)]


async def test_a_changed_weekday_or_time_is_planned_anew_rather_than_kept_for_a_week(
    database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    assert not await weekly(database, surveys, clock).sweep()  # Thursday 26 Nov: planned for Monday 09:00 Berlin
    friday_18 = DigestSettings(weekday="friday", time=time(18, 0), timezone="Europe/Berlin")
    moved = WeeklyDigest(database, only(surveys, "csat"), friday_18, TARGETS, clock, min_group_size=5)
    assert not await moved.sweep()
    clock.now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 18:00 Berlin
    assert await moved.sweep()


async def test_the_digest_is_due_once_a_week_and_a_restart_neither_repeats_nor_skips_one(
    database: Database, database_url: str, surveys: dict[str, Survey], clock: Clock
) -> None:
    assert not await weekly(database, surveys, clock).sweep()  # Thursday: planned for Monday 09:00 Berlin
    clock.now = datetime(2026, 11, 30, 7, 59, tzinfo=UTC)
    assert not await weekly(database, surveys, clock).sweep()
    assert await queued_digests(database) == []

    clock.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert await weekly(database, surveys, clock).sweep()
    clock.advance(minutes=1)
    assert not await weekly(database, surveys, clock).sweep()  # the next minute's sweep
    first = await queued_digests(database)
    assert [(channel, message.target) for channel, message in first] == list(TARGETS.items())
    assert first[0][1].title == "Weekly digest, Mon 23 Nov 2026 to Mon 30 Nov 2026"

    restarted = Database(database_url)  # a new process on the same database, down over the next Monday
    try:
        clock.now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
        assert await weekly(restarted, surveys, clock).sweep()  # the missed week is sent late, not skipped
        clock.advance(minutes=1)
        assert not await weekly(restarted, surveys, clock).sweep()  # and once
        clock.now = datetime(2026, 12, 14, 7, 59, tzinfo=UTC)
        assert not await weekly(restarted, surveys, clock).sweep()
        clock.now = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
        assert await weekly(restarted, surveys, clock).sweep()  # back on its weekday
    finally:
        await restarted.close()
    assert len(await queued_digests(database)) == 3 * len(TARGETS)


async def test_two_processes_sweeping_at_the_due_time_queue_one_digest(
    database: Database, database_url: str, surveys: dict[str, Survey], clock: Clock
) -> None:
    assert not await weekly(database, surveys, clock).sweep()
    clock.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    other_process = Database(database_url)
    try:
        both = await asyncio.gather(
            weekly(database, surveys, clock).sweep(), weekly(other_process, surveys, clock).sweep()
        )
    finally:
        await other_process.close()
    assert sorted(both) == [False, True]
    assert [channel for channel, _ in await queued_digests(database)] == list(TARGETS)


async def test_a_disabled_digest_or_one_without_destinations_plans_nothing(
    database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    disabled = DigestSettings(enabled=False)
    assert not await WeeklyDigest(database, surveys, disabled, TARGETS, clock, 5).sweep()
    assert not await WeeklyDigest(database, surveys, DigestSettings(), {}, clock, 5).sweep()
    clock.advance(days=30)
    assert not await WeeklyDigest(database, surveys, DigestSettings(), TARGETS, clock, 5).sweep()  # first seen
    assert await queued_digests(database) == []


def test_starting_the_bot_imports_neither_the_chart_library_nor_the_report() -> None:
    loaded = "{'matplotlib', 'bot.reports'} & sys.modules.keys()"
    check = f"import sys, handlers.runner, handlers.cli; sys.exit(sorted({loaded}) or None)"
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0


async def test_a_hidden_week_is_not_compared_with(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    await answer_internal_service(engine, "f1", "hr", 5)  # alone in its week: hidden below 2
    clock.advance(days=7)
    await answer_internal_service(engine, "g1", "hr", 5)
    await answer_internal_service(engine, "g2", "finance", 4)
    clock.advance(hours=1)

    lines = await digest_lines(database, only(surveys, "internal-service"), clock, min_group_size=2)

    service = lines.index("Internal service feedback")
    assert lines[service + 1 : service + 3] == [
        "• Responses: 2 (the week before: 1)",
        "• CSAT: 100 % (95 % interval 34 % to 100 %, 2 answers); the week before hidden: too few answers to an "
        "anonymous survey",
    ]


async def test_a_survey_title_matplotlib_would_read_as_maths_is_drawn(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    # matplotlib reads $...$ in a legend as maths: this title made saving the chart fail, and the digest with it.
    await answer_csat(engine, "ann", 5)
    clock.advance(hours=1)
    content = await build_content(database, [surveys["csat"]], DigestSettings(), until=clock(), min_group_size=1)
    titled = [replace(weeks, title="Team A_1 $x_$") for weeks in content.surveys]

    png = await chart_png(replace(content, surveys=titled))

    with Image.open(io.BytesIO(png)) as image:
        image.verify()
