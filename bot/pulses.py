"""Pulses: recurring surveys from `[[pulses]]`, sent at the times of a cron expression read in a time zone.

Each pulse's schedule is a `scheduledjob` row ("pulse:NAME") whose due time is the next time of its cron. The
process whose claim moves that time on runs the occurrence, so several processes run it once; a process that was
down runs the missed occurrence once when it comes back, then waits for the next; a changed cron or zone is
re-planned from now. While an occurrence runs, a second row ("pulse:NAME:run") holds it under a lease: a run that
fails is taken up again at the next round, one whose process died when the lease ends, by any process. Each
recipient is invited through `Invitations.invite` with an idempotency key of the occurrence and the recipient, so
a run taken up again invites nobody twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cronsim import CronSim

from bot.channels import GroupMembers
from bot.config import PulseRecipients, PulseSettings
from bot.invitations import (
    IdempotencyKeyReused,
    InvitationRefused,
    InvitationRequest,
    Invitations,
    ToPlatformUser,
)
from bot.loops import summary
from storage import schedule, segments
from storage.db import Database
from storage.models import InvitationState

PULSES_LOOP = "the pulses"
CHECK_SECONDS = 30  # how often due pulses are looked for: a pulse starts at most this late
JOB_PREFIX = "pulse:"  # of the job's name, and of the API key its invitations record
LEASE = timedelta(minutes=15)  # longer than a run takes: past it, a run whose process died is taken up again
log = logging.getLogger(__name__)


class Recipient(NamedTuple):
    channel: str
    platform_id: str


class PulseRun(NamedTuple):
    """What one occurrence of a pulse did, by outcome: `invited`, `skipped` (opted out, unreachable), `already`
    (invited by an earlier attempt at this occurrence), `refused` (unknown to a channel that cannot write first, or a
    channel not running), and the recipient sources that could not be read."""

    occurrence: datetime
    outcomes: Counter[str]
    failed_sources: int


class PlannedPulse(NamedTuple):
    """A pulse as `feedbackbot pulses list` shows it."""

    settings: PulseSettings
    next_due: datetime  # when no process planned it yet: the next time of its cron
    last_run: datetime | None
    unfinished: datetime | None  # the time whose run is in progress, or waits to be taken up again


def job_name(pulse: PulseSettings) -> str:
    return JOB_PREFIX + pulse.name


def run_job_name(pulse: PulseSettings) -> str:
    """The name of the row of the pulse's run in progress."""
    return f"{job_name(pulse)}:run"


def next_time(pulse: PulseSettings, after: datetime) -> datetime:
    """The first time of the pulse's cron after `after`, in UTC. cronsim reads the cron on the zone's wall clock:
    a time that a spring-forward skips runs when the clock jumps, one that autumn repeats runs once."""
    return next(CronSim(pulse.cron, after.astimezone(pulse.zone))).astimezone(UTC)


def latest_time(pulse: PulseSettings, now: datetime) -> datetime:
    """The last time of the pulse's cron at or before `now`, in UTC."""
    return next(CronSim(pulse.cron, (now + timedelta(seconds=1)).astimezone(pulse.zone), reverse=True)).astimezone(UTC)


def planned_by_this_cron(pulse: PulseSettings, due_at: datetime, now: datetime) -> bool:
    """Whether a stored due time is what the pulse's cron and zone plan: the next of their times, or a past one that
    is due (missed while no process ran, or left due by a failed run). Any other was planned by an earlier cron."""
    if due_at > now:
        return due_at == next_time(pulse, now)
    return next_time(pulse, due_at - timedelta(seconds=1)) == due_at


class Pulses:
    """Runs the configured pulses when due, inviting their recipients. `groups`: the running channels that can list
    a group's members, by name."""

    def __init__(
        self,
        database: Database,
        invitations: Invitations,
        pulses: Sequence[PulseSettings],
        groups: Mapping[str, GroupMembers],
        clock: Callable[[], datetime],
    ) -> None:
        self.database, self.invitations, self.groups, self.clock = database, invitations, groups, clock
        self.enabled = [pulse for pulse in pulses if pulse.enabled]

    async def step(self) -> float:
        """One round of the loop: every due pulse run. A pulse that fails does not hold back those after it; the
        first failure is raised once all were tried, for the loop to log and back off."""
        failures: list[Exception] = []
        for pulse in self.enabled:
            try:
                await self.run_if_due(pulse)
            except Exception as error:
                failures.append(error)
        if failures:
            raise failures[0]
        return CHECK_SECONDS

    async def run_if_due(self, pulse: PulseSettings) -> PulseRun | None:
        """Runs an unfinished run of the pulse whose lease ended, or else its due occurrence, if this process takes
        it; a run that fails (or is cancelled) is left for the next round, by whichever process."""
        occurrence = await self._unfinished(pulse) or await self._claim(pulse)
        if occurrence is None:
            return None
        try:
            run = await self._run(pulse, occurrence)
        except BaseException:
            async with self.database.transaction() as session:
                await schedule.retry_run(session, job=run_job_name(pulse), occurrence=occurrence, at=self.clock())
            raise
        async with self.database.transaction() as session:
            await schedule.finish_run(session, job=run_job_name(pulse), occurrence=occurrence)
        invited, skipped, already, refused = (run.outcomes[key] for key in ("invited", "skipped", "already", "refused"))
        log.info(
            "pulse %s: invited %d, skipped %d by rule, %d invited already, %d refused, %d recipient sources failed",
            *(pulse.name, invited, skipped, already, refused, run.failed_sources),
        )
        return run

    async def _unfinished(self, pulse: PulseSettings) -> datetime | None:
        """The occurrence of an unfinished run of the pulse, if this process takes it up."""
        now = self.clock()
        async with self.database.transaction() as session:
            return await schedule.take_unfinished_run(
                session, job=run_job_name(pulse), now=now, lease_until=now + LEASE
            )

    async def _claim(self, pulse: PulseSettings) -> datetime | None:
        """The occurrence this process is to run now, if any: the due time it moved on to the cron's next time."""
        now, job = self.clock(), job_name(pulse)
        async with self.database.transaction() as session:
            planned = await schedule.plan(session, job=job, due_at=next_time(pulse, now))
            if not planned_by_this_cron(pulse, planned.due_at, now):
                await schedule.replan(session, job=job, was=planned.due_at, due_at=next_time(pulse, now))
                return None
            if planned.due_at > now:
                return None
            if not await schedule.claim_run(session, job=job, now=now, next_due=next_time(pulse, now)):
                return None
            await schedule.start_run(
                session, job=run_job_name(pulse), occurrence=planned.due_at, lease_until=now + LEASE
            )
            return planned.due_at

    async def _run(self, pulse: PulseSettings, occurrence: datetime) -> PulseRun:
        """Invites the people of each source in turn, each person once."""
        outcomes: Counter[str] = Counter()
        invited: set[Recipient] = set()
        failed_sources = 0
        for number, source in enumerate(pulse.recipients, start=1):
            try:
                platform_ids = await self._source(pulse, source)
            except Exception as error:  # one unreadable group does not keep the others from their survey
                log.warning("pulse %s: recipients %d on %s: %s", pulse.name, number, source.channel, summary(error))
                failed_sources += 1
                continue
            for recipient in (Recipient(source.channel, platform_id) for platform_id in platform_ids):
                if recipient not in invited:
                    invited.add(recipient)
                    outcomes[await self._invite(pulse, occurrence, recipient)] += 1
        return PulseRun(occurrence, outcomes, failed_sources)

    async def _invite(self, pulse: PulseSettings, occurrence: datetime, recipient: Recipient) -> str:
        """Invites one recipient to this occurrence; what became of it."""
        stamp = f"{occurrence:%Y-%m-%dT%H:%MZ}"
        reference = f"{job_name(pulse)}:{stamp}"  # the answers to one occurrence are found by it
        request = InvitationRequest(pulse.survey, ToPlatformUser(*recipient), reference=reference)
        key = f"{stamp}:{recipient.channel}:{recipient.platform_id}"
        try:
            invited = await self.invitations.invite(request, api_key=job_name(pulse), idempotency_key=key, bulk=True)
        except InvitationRefused:
            return "refused"
        except IdempotencyKeyReused:  # the pulse's survey changed between two attempts at one occurrence
            return "already"
        if invited.replayed:
            return "already"
        return "invited" if invited.invitation.state == InvitationState.INVITED else "skipped"

    async def _source(self, pulse: PulseSettings, source: PulseRecipients) -> Sequence[str]:
        if source.users:
            return source.users
        if source.segment:
            async with self.database.snapshot() as session:
                return await segments.segment_members(
                    session, channel=source.channel, attributes=source.segment, not_by_actor_prefix=JOB_PREFIX
                )
        assert source.members_of is not None
        channel = self.groups.get(source.channel)
        if channel is None:
            raise LookupError(f"the {source.channel} channel is not running or cannot list a group's members")
        return await channel.group_members(source.members_of)


async def planned(database: Database, pulses: Sequence[PulseSettings], now: datetime) -> list[PlannedPulse]:
    """Every configured pulse, enabled or not, with its next due time, last run and unfinished run."""
    names = [name for pulse in pulses for name in (job_name(pulse), run_job_name(pulse))]
    async with database.snapshot() as session:
        jobs = await schedule.jobs_named(session, names=names)
    return [plan_of(pulse, jobs.get(job_name(pulse)), jobs.get(run_job_name(pulse)), now) for pulse in pulses]


def plan_of(
    pulse: PulseSettings, job: schedule.JobTimes | None, run: schedule.JobTimes | None, now: datetime
) -> PlannedPulse:
    unfinished = run.last_run_at if run else None
    if job is None:
        return PlannedPulse(pulse, next_time(pulse, now), None, unfinished)
    next_due = job.due_at if planned_by_this_cron(pulse, job.due_at, now) else next_time(pulse, now)
    return PlannedPulse(pulse, next_due, job.last_run_at, unfinished)


async def due_again(database: Database, pulse: PulseSettings, now: datetime) -> datetime:
    """Leaves the run of the pulse's latest time unfinished, for the running bot to take up at its next round:
    whoever that time's run invited is not invited again, the others are. Returns that time."""
    latest = latest_time(pulse, now)
    async with database.transaction() as session:
        await schedule.start_run(session, job=run_job_name(pulse), occurrence=latest, lease_until=now)
    return latest
