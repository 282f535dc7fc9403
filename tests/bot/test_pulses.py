"""Pulses under a clock the test moves, on both engines: run when due and only then, once per occurrence however
many processes and restarts, through summer time, re-planned when the cron changes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app import load_checked_surveys
from bot.config import ConfigError, InvitationSettings, PulseSettings, Settings
from bot.engine import Engine
from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.pulses import Pulses, due_again, next_time, planned
from handlers.registry import settings_model
from storage import queries
from storage.db import Database
from storage.models import Invitation, OutboxMessage
from tests.conftest import ROOT, Clock

# Monday 30 November 2026, 09:00 in Berlin (CET, UTC+1)
MONDAY_9_BERLIN = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
A_MINUTE_BEFORE = MONDAY_9_BERLIN - timedelta(minutes=1)
TEAM = ["U0ALICE", "U0BOB"]


def pulse(**changes: Any) -> PulseSettings:
    fields: dict[str, Any] = {
        "name": "weekly",
        "survey": "internal-service",
        "cron": "0 9 * * MON",
        "timezone": "Europe/Berlin",
        "recipients": [{"channel": "slack", "users": TEAM}],
    }
    return PulseSettings.model_validate(fields | changes)


def pulses(database: Database, engine: Engine, clock: Clock, *configured: PulseSettings) -> Pulses:
    """The pulses of a process (a new one for each restart) on this database."""
    invitations = Invitations(database, engine, {"slack": True, "telegram": False}, clock)
    return Pulses(database, invitations, configured or [pulse()], {}, clock)


async def invited(database: Database) -> list[tuple[str | None, str | None]]:
    """Every invitation's (reference, idempotency key), oldest first."""
    async with database.snapshot() as session:
        statement = select(Invitation.reference, Invitation.idempotency_key).order_by(col(Invitation.id))
        return list(await session.exec(statement))


async def outbox_rows(database: Database) -> int:
    async with database.snapshot() as session:
        return len(list(await session.exec(select(OutboxMessage))))


async def test_a_pulse_runs_at_its_time_in_its_zone_and_not_before(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE  # 08:59 in Berlin
    assert await pulses(database, engine, clock).run_if_due(pulse()) is None  # first start: planned, not run
    assert await invited(database) == []
    clock.now = MONDAY_9_BERLIN
    run = await pulses(database, engine, clock).run_if_due(pulse())
    assert run is not None and run.outcomes == {"invited": 2}
    assert await invited(database) == [
        ("pulse:weekly:2026-11-30T08:00Z", "2026-11-30T08:00Z:slack:U0ALICE"),
        ("pulse:weekly:2026-11-30T08:00Z", "2026-11-30T08:00Z:slack:U0BOB"),
    ]
    assert await outbox_rows(database) == 2  # each survey message waits for the dispatcher


async def test_a_new_pulse_waits_for_its_first_time_instead_of_running_at_start(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
    assert await pulses(database, engine, clock).step() > 0
    assert await invited(database) == []
    [(_, next_due, last_run, _)] = await planned(database, [pulse()], clock())
    assert (next_due, last_run) == (datetime(2026, 12, 7, 8, 0, tzinfo=UTC), None)


async def test_a_restart_right_after_a_run_does_not_repeat_it_and_the_next_week_runs(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock).step()
    clock.now = MONDAY_9_BERLIN
    assert await pulses(database, engine, clock).run_if_due(pulse()) is not None
    clock.advance(seconds=30)
    assert await pulses(database, engine, clock).run_if_due(pulse()) is None  # restarted: nothing to repeat
    clock.advance(days=7)
    again = await pulses(database, engine, clock).run_if_due(pulse())
    assert again is not None and again.occurrence == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert len(await invited(database)) == 4


async def test_a_pulses_invitations_are_paced_behind_the_messages_to_staff_and_people_answering(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock).step()
    clock.now = MONDAY_9_BERLIN
    assert await pulses(database, engine, clock).run_if_due(pulse()) is not None
    async with database.snapshot() as session:
        paces = list(await session.exec(select(OutboxMessage.pace_seconds)))
    assert paces == [1 / InvitationSettings().campaign_rate] * 2  # a department of thousands goes at that rate


async def test_a_restart_after_missed_times_runs_the_missed_pulse_once_then_waits_for_the_next(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock).step()
    clock.now = datetime(2026, 12, 16, 10, 0, tzinfo=UTC)  # down for three Mondays; back on a Wednesday
    restarted = pulses(database, engine, clock)
    run = await restarted.run_if_due(pulse())
    assert run is not None and run.occurrence == MONDAY_9_BERLIN  # the first missed time, once
    assert await restarted.run_if_due(pulse()) is None
    assert len(await invited(database)) == 2
    [(_, next_due, last_run, _)] = await planned(database, [pulse()], clock())
    assert (next_due, last_run) == (datetime(2026, 12, 21, 8, 0, tzinfo=UTC), clock.now)


async def test_summer_time_moves_the_pulse_with_the_wall_clock(
    database: Database, engine: Engine, clock: Clock
) -> None:
    daily = pulse(cron="0 9 * * *")
    clock.now = datetime(2027, 3, 27, 7, 30, tzinfo=UTC)  # Saturday 08:30 CET
    await pulses(database, engine, clock, daily).step()
    clock.now = datetime(2027, 3, 27, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert await pulses(database, engine, clock, daily).run_if_due(daily) is not None
    clock.now = datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # Sunday 09:00 CEST, an hour earlier in UTC
    run = await pulses(database, engine, clock, daily).run_if_due(daily)
    assert run is not None and run.occurrence == clock.now


def test_a_time_that_summer_time_skips_runs_when_the_clock_jumps_and_a_repeated_one_runs_once() -> None:
    night = pulse(cron="30 2 * * *")
    spring = next_time(night, datetime(2027, 3, 27, 12, 0, tzinfo=UTC))
    assert spring == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 02:30 does not exist: at 03:00 CEST
    autumn = next_time(night, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    assert next_time(night, autumn) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not the second 02:30 too


async def test_a_changed_cron_is_planned_anew_from_now(database: Database, engine: Engine, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # Wednesday
    await pulses(database, engine, clock).step()  # planned for Monday
    daily = pulse(cron="0 9 * * *")
    assert await pulses(database, engine, clock, daily).run_if_due(daily) is None  # re-planned, not run
    [(_, next_due, _, _)] = await planned(database, [daily], clock())
    assert next_due == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert await pulses(database, engine, clock).run_if_due(pulse()) is None  # back to weekly: Monday again
    assert [planned_pulse.next_due for planned_pulse in await planned(database, [pulse()], clock())] == [
        datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    ]
    await pulses(database, engine, clock, daily).step()
    clock.now = next_due
    assert await pulses(database, engine, clock, daily).run_if_due(daily) is not None


async def test_processes_racing_for_one_due_pulse_invite_each_recipient_once(
    database: Database, database_url: str, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock).step()
    clock.now = MONDAY_9_BERLIN
    others = [Database(database_url) for _ in range(2)]
    try:
        runs = await asyncio.gather(
            pulses(database, engine, clock).run_if_due(pulse()),
            *(pulses(other, engine, clock).run_if_due(pulse()) for other in others),
        )
    finally:
        for other in others:
            await other.close()
    assert [run.outcomes for run in runs if run is not None] == [{"invited": 2}]
    assert len(await invited(database)) == 2


async def test_a_pulse_run_again_invites_only_whom_its_first_run_missed(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock).step()
    clock.now = MONDAY_9_BERLIN
    await pulses(database, engine, clock).run_if_due(pulse())
    clock.advance(hours=1)
    grown = pulse(recipients=[{"channel": "slack", "users": [*TEAM, "U0CAROL"]}])  # Carol joined since
    assert await due_again(database, grown, clock()) == MONDAY_9_BERLIN  # `feedbackbot pulses rerun weekly`
    again = await pulses(database, engine, clock, grown).run_if_due(grown)
    assert again is not None and (again.occurrence, again.outcomes) == (MONDAY_9_BERLIN, {"already": 2, "invited": 1})
    assert await outbox_rows(database) == 3
    assert await pulses(database, engine, clock, grown).run_if_due(grown) is None  # done: not taken up again


class Department:
    """A channel listing a group's members: those given, or never an answer while `blocked` (the process is
    stopped, or dies, while it waits)."""

    def __init__(self, members: Sequence[str] = (), *, blocked: bool = False) -> None:
        self.members, self.blocked = list(members), blocked
        self.asked = asyncio.Event()

    async def group_members(self, group: str) -> Sequence[str]:
        self.asked.set()
        if self.blocked:
            await asyncio.Event().wait()
        return self.members


def with_department(database: Database, engine: Engine, clock: Clock, department: Department) -> Pulses:
    invitations = Invitations(database, engine, {"slack": True}, clock)
    return Pulses(database, invitations, [DEPARTMENT_PULSE], {"slack": department}, clock)


DEPARTMENT_PULSE = pulse(recipients=[{"channel": "slack", "users": TEAM}, {"channel": "slack", "members_of": "S0"}])


async def test_a_run_stopped_midway_is_taken_up_at_the_next_round_and_invites_nobody_twice(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await with_department(database, engine, clock, Department()).step()
    clock.now = MONDAY_9_BERLIN
    stopped = Department(blocked=True)
    run = asyncio.create_task(with_department(database, engine, clock, stopped).run_if_due(DEPARTMENT_PULSE))
    await stopped.asked.wait()  # the team invited; the group's members not yet
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(await invited(database)) == 2
    clock.advance(seconds=30)
    resumed = await with_department(database, engine, clock, Department(["U0CAROL"])).run_if_due(DEPARTMENT_PULSE)
    assert resumed is not None and (resumed.occurrence, resumed.outcomes) == (
        MONDAY_9_BERLIN,
        {"already": 2, "invited": 1},
    )
    [(_, next_due, _, _)] = await planned(database, [DEPARTMENT_PULSE], clock())
    assert next_due == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # and the schedule went on to the next Monday


async def test_a_run_whose_process_died_is_taken_up_when_its_lease_ends(
    database: Database, engine: Engine, clock: Clock
) -> None:
    clock.now = A_MINUTE_BEFORE
    await with_department(database, engine, clock, Department()).step()
    clock.now = MONDAY_9_BERLIN
    dying = Department(blocked=True)
    abandoned = asyncio.create_task(with_department(database, engine, clock, dying).run_if_due(DEPARTMENT_PULSE))
    await dying.asked.wait()  # the process dies here: nothing of it runs again, its lease stays
    clock.advance(minutes=14)
    survivor = with_department(database, engine, clock, Department(["U0CAROL"]))
    assert await survivor.run_if_due(DEPARTMENT_PULSE) is None  # the lease holds: the run may still be going on
    [(_, _, _, unfinished)] = await planned(database, [DEPARTMENT_PULSE], clock())
    assert unfinished == MONDAY_9_BERLIN  # as `feedbackbot pulses list` shows it
    clock.advance(minutes=2)
    resumed = await survivor.run_if_due(DEPARTMENT_PULSE)
    assert resumed is not None and resumed.outcomes == {"already": 2, "invited": 1}
    assert len(await invited(database)) == 3
    assert [plan.unfinished for plan in await planned(database, [DEPARTMENT_PULSE], clock())] == [None]
    abandoned.cancel()  # the test's own clean-up: a dead process leaves no task
    with pytest.raises(asyncio.CancelledError):
        await abandoned


async def test_a_group_nobody_can_list_is_counted_and_the_other_recipients_are_invited(
    database: Database, engine: Engine, clock: Clock
) -> None:
    mixed = pulse(recipients=[{"channel": "slack", "members_of": "C0TEAM"}, {"channel": "slack", "users": TEAM}])
    clock.now = A_MINUTE_BEFORE
    await pulses(database, engine, clock, mixed).step()
    clock.now = MONDAY_9_BERLIN
    run = await pulses(database, engine, clock, mixed).run_if_due(mixed)
    assert run is not None and (run.outcomes, run.failed_sources) == ({"invited": 2}, 1)


async def test_a_segment_is_the_known_people_whose_latest_invitation_carries_its_attributes(
    database: Database, engine: Engine, clock: Clock
) -> None:
    async with database.transaction() as session:
        for platform_id in ("101", "102", "103", "104"):
            await queries.get_or_create_person(session, channel="telegram", platform_id=platform_id, language="en")
    api = Invitations(database, engine, {"telegram": False}, clock)
    for platform_id, plan in (("101", "pro"), ("102", "free"), ("103", "pro"), ("103", "free"), ("104", None)):
        attributes = {"plan": plan, "region": "north"} if plan else {}
        request = InvitationRequest("csat", ToPlatformUser("telegram", platform_id), None, attributes)
        await api.invite(request, api_key="shop", idempotency_key=None)
        clock.advance(seconds=1)
    pro = pulse(recipients=[{"channel": "telegram", "segment": {"plan": "pro"}}], survey="csat")
    invitations = Invitations(database, engine, {"telegram": False}, clock)
    clock.now = A_MINUTE_BEFORE
    await Pulses(database, invitations, [pro], {}, clock).step()
    clock.now = MONDAY_9_BERLIN
    first = await Pulses(database, invitations, [pro], {}, clock).run_if_due(pro)
    assert first is not None and first.outcomes == {"invited": 1}  # 101; 103's latest plan is free
    assert (await invited(database))[-1] == ("pulse:weekly:2026-11-30T08:00Z", "2026-11-30T08:00Z:telegram:101")
    clock.advance(days=7)
    second = await Pulses(database, invitations, [pro], {}, clock).run_if_due(pro)
    assert second is not None and second.outcomes == {"invited": 1}  # the pulse's own invitation changed nothing


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"cron": "0 9 * * FUNDAY"}, "cron"),
        ({"cron": "every monday"}, "cron"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"recipients": []}, "recipients"),
        ({"recipients": [{"channel": "slack"}]}, "recipients.0"),
        ({"recipients": [{"channel": "slack", "users": ["U1"], "members_of": "C1"}]}, "recipients.0"),
        ({"name": "Weekly Pulse"}, "name"),
    ],
)
def test_a_pulse_that_cannot_run_is_refused_at_load_naming_its_key(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"pulses\.0\.{named}\b"):
        Settings.model_validate({"pulses": [pulse().model_dump() | changes]})


def test_two_pulses_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated: weekly"):
        Settings.model_validate({"pulses": [pulse().model_dump(), pulse().model_dump()]})


def test_a_pulse_naming_an_unknown_survey_or_channel_is_refused_at_start() -> None:
    surveys_dir = str(ROOT / "surveys")
    for changes, message in (
        ({"survey": "nope"}, "weekly: survey: no survey 'nope'"),
        ({"recipients": [{"channel": "fax", "users": ["1"]}]}, "weekly: recipients: no channel 'fax'"),
    ):
        settings = settings_model().model_validate(
            {"surveys": {"dir": surveys_dir}, "pulses": [pulse().model_dump() | changes]}
        )
        with pytest.raises(ConfigError, match=message):
            load_checked_surveys(settings)
