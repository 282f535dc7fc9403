"""The transactional outbox: messages written with the change they report, sent once by the dispatcher.

A message is claimed for a short lease (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so several bot processes
share the work and never claim the same row), sent outside any transaction, then marked sent (the attempts that
finish together are recorded in one transaction). A process that dies holding a lease leaves the message to be
claimed again when the lease runs out. Failures are retried with backoff; a refusal that cannot get better fails the
message at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import NoReturn

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import correlation
from bot.loops import Sleep, keep_running
from bot.outbound import (
    CaseAlert,
    CaseContact,
    CaseResolution,
    OutboundMessage,
    Outcome,
    Refused,
    RetryLater,
    SendCounts,
    SendResult,
    Sent,
    SurveyInvitation,
    SurveyReminder,
    Unreachable,
    case_of,
    decode,
    encode,
    outcome_of,
)
from storage import cases as stored_cases
from storage import invitations as stored_invitations
from storage import outbox as stored
from storage import queries, schedule
from storage.db import Database, settle_future
from storage.models import InvitationState, OutboxStatus
from storage.types import utcnow

LEASE = timedelta(seconds=60)
LEASE_USED = 0.8  # of a lease, the part a paced message may wait for its turn in: the rest is the send's margin
BATCH = 20
# Paced messages claimed at a time: those whose turns come within PACED_WINDOW (at least one), at most PACED_BATCH;
# the others are given back at once. A campaign without a limit goes out twenty at a time, and one at the slowest
# pace (MAX_PACE_SECONDS) holds up the case messages queued meanwhile for one pace, not for a batch of them. At
# Telegram's limit a batch is a few messages: a send's platform call comes after its survey is opened, which takes
# longer on a busy machine, and the next batch starts only once they all went, so a slow opening cannot let
# several calls arrive together past the limit (a one-second window did: 429s).
PACED_BATCH = 20
PACED_WINDOW = timedelta(seconds=0.2)
MAX_PACE_SECONDS = 10.0
# Of the database's pool, the share the paced sends in progress may hold (each uses a connection now and then): the
# rest is left to the claims, the records and the replies to people answering. Past the pool, SQLAlchemy opens and
# closes a connection for each use (a new PostgreSQL backend every few messages), which costs more than the overlap
# gains. SQLite's pool of 5 lets 4 sends overlap, PostgreSQL's of 20 lets 16.
IN_FLIGHT_SHARE_OF_POOL = 0.8
# A campaign at a platform's rate (its messages at least LIMITED_PACE_SECONDS apart) overlaps at most
# LIMITED_IN_FLIGHT sends, each opening its survey in transactions of its own: a send's platform call comes after its
# survey is opened, and openings held up together on a busy machine (16 at once, or sharing the group commit) let
# their calls arrive together, past the limit (429s). A campaign without a limit shares them (SHARED_OPENING).
LIMITED_PACE_SECONDS = 0.01
LIMITED_IN_FLIGHT = 4
SHARED_OPENING: ContextVar[bool] = ContextVar("shared_opening", default=False)  # for the send in progress
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=2)
MAX_ASKED_WAIT = timedelta(days=1)  # the longest wait a platform's or receiver's answer may ask for
DISPATCHER_LOOP = "outbox dispatcher"
log = logging.getLogger(__name__)

Sender = Callable[[OutboundMessage], Awaitable[SendResult]]
Effect = Callable[[AsyncSession], Awaitable[None]]  # a change written with an attempt's record


@dataclass(frozen=True, slots=True)
class InvitationSettled:
    """An invitation's message sent or refused: recorded with the invitations of its batch alike in one statement."""

    invitation_id: int
    state: InvitationState
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Pace:
    """A bulk message's send time (its slot in its campaign) and the least time between two such sends."""

    not_before: datetime
    seconds: float


def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    message: OutboundMessage,
    now: datetime,
    pace: Pace | None = None,
) -> None:
    """Adds a message to the caller's transaction: it exists if and only if the change it reports is committed.
    A `pace`d message (a campaign's) is sent at its time and spacing, after every unpaced one that is due.
    Raises pydantic.ValidationError when the message does not fit its kind's model."""
    stored.add(
        session,
        channel=channel,
        kind=message.kind,
        payload=encode(message),
        case_id=case_of(message),
        now=now,
        correlation_id=correlation.current(),
        not_before=pace.not_before if pace else None,
        pace_seconds=pace.seconds if pace else None,
    )


class Dispatcher:
    """Sends due outbox messages through the senders of the configured channels; `counts` counts what became of
    each attempt, by channel and outcome (shared with the inline replies' when given)."""

    def __init__(
        self,
        database: Database,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
        counts: SendCounts | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.database = database
        self.senders = senders
        self.clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self.worker = f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.counts = SendCounts() if counts is None else counts
        self.in_flight = asyncio.Semaphore(max_in_flight(database))
        self.limited_in_flight = asyncio.Semaphore(LIMITED_IN_FLIGHT)  # of those, the sends at a platform's rate
        self.paced_from: dict[str, datetime] = {}  # by channel: the earliest start of this process's next paced send
        self.records = Records(database, self.worker, clock)

    async def run_once(self) -> int:
        """Claims and sends one batch of due messages; returns how many were sent. Messages to staff and people in
        a conversation go one after another, in order; a campaign's, each to a person of its own, overlap (at most
        max_in_flight() at once), each started at its slot, so that a campaign is not held to one message per round
        trip."""
        claimed = await self._claim()
        sent = 0
        for message, _ in claimed:
            if message.pace_seconds is None:
                sent += await self._send_in_its_context(message)
        paced = [(message, slot) for message, slot in claimed if message.pace_seconds is not None]
        results = await self._send_paced(paced)
        if failure := next((result for result in results if isinstance(result, BaseException)), None):
            raise failure
        return sent + sum(result for result in results if isinstance(result, int))

    async def _send_paced(self, paced: list[tuple[stored.Claimed, datetime]]) -> list[int | BaseException]:
        """Starts each send at its slot, and never sooner than a pace after the one before (in this batch or the
        last): a send held up (by the sends in flight, a busy machine) leaves the next ones late, never in a burst
        past the platform's limit. Every send runs to its end before a failure is raised: none is left sending while
        its row is claimed again."""
        sends: list[asyncio.Task[int]] = []
        try:
            for message, slot in paced:
                start = max(slot, self.paced_from.get(message.channel, slot))
                await asyncio.sleep((start - self.clock()).total_seconds())
                limited = (message.pace_seconds or 0.0) >= LIMITED_PACE_SECONDS
                if limited:
                    await self.limited_in_flight.acquire()
                await self.in_flight.acquire()
                # A start late by up to half a pace (the event loop's jitter) keeps the times; a later one (held up
                # by the sends in flight) moves them on, so that those held up go a pace apart, not together.
                pace, started = timedelta(seconds=message.pace_seconds or 0.0), self.clock()
                self.paced_from[message.channel] = (start if started - start <= pace / 2 else started) + pace
                sends.append(asyncio.create_task(self._send_in_flight(message, limited)))
        except asyncio.CancelledError:  # stopping: what is still sending is cut short, as an unpaced send is
            for send in sends:
                send.cancel()
            await asyncio.gather(*sends, return_exceptions=True)
            raise
        return await asyncio.gather(*sends, return_exceptions=True)

    async def _send_in_flight(self, message: stored.Claimed, limited: bool) -> int:
        SHARED_OPENING.set(not limited)  # in this send's task alone
        try:
            return await self._send_in_its_context(message)
        finally:
            self.in_flight.release()
            if limited:
                self.limited_in_flight.release()

    async def _send_in_its_context(self, message: stored.Claimed) -> int:
        """Sends the message, logged under the id of the update that queued it, so that one id follows it to its
        send."""
        with correlation.correlated(message.correlation_id or f"outbox-{message.id}"):
            if message.taken_over_from is not None:
                self._count_possible_resend(message)
            return await self._send(message)

    async def step(self, interval: float = 1.0) -> float:
        """One round of the dispatcher's loop: sends a batch; returns the wait before the next: none while busy,
        else until the next message is due, at most `interval` (so paced messages go at their times)."""
        if await self.run_once():
            return 0
        now = self.clock()
        async with self.database.snapshot() as session:
            due = await stored.next_due(session, channels=list(self.senders), now=now)
        return interval if due is None else min(interval, max((due - now).total_seconds(), 0))

    async def _claim(self) -> list[tuple[stored.Claimed, datetime]]:
        """Claims due messages in one transaction, each with its time: the unpaced (now), then the paced whose turn
        comes soon (those whose turn comes later are given back)."""
        now = self.clock()
        async with self.database.transaction() as session:
            claimed = await stored.claim_due(
                session,
                channels=list(self.senders),
                now=now,
                until=now + self.lease,
                worker=self.worker,
                limit=BATCH,
                paced_limit=PACED_BATCH,
            )
            paced, slots = await self._slots(session, [m for m in claimed if m.pace_seconds is not None], now)
            taken = {m.id for m in paced}
            if later := [m.id for m in claimed if m.pace_seconds is not None and m.id not in taken]:
                await stored.release(session, worker=self.worker, message_ids=later)
        return [(m, now) for m in claimed if m.pace_seconds is None] + list(zip(paced, slots, strict=True))

    async def _slots(
        self, session: AsyncSession, paced: list[stored.Claimed], now: datetime
    ) -> tuple[list[stored.Claimed], list[datetime]]:
        """The paced messages to send now, each with its slot: its pace after the last paced send of its channel by
        any process (a dispatcher behind its campaign's times catches up at the campaign's rate, never in a burst,
        however many dispatchers run). Only turns within PACED_WINDOW are taken (at least one), and none after
        LEASE_USED of the lease: sent then, a message might have been claimed by another process meanwhile and sent
        by it too."""
        lease_ends = now + self.lease * LEASE_USED
        chosen: list[stored.Claimed] = []
        times: list[datetime] = []
        for channel in dict.fromkeys(message.channel for message in paced):
            of_channel = [message for message in paced if message.channel == channel]
            slots = await schedule.take_slots(
                session,
                channel=channel,
                paces=[message.pace_seconds or 0.0 for message in of_channel],
                now=now,
                until=lease_ends,
                soon=now + PACED_WINDOW,
            )
            chosen += of_channel[: len(slots)]
            times += slots
        return chosen, times

    async def run_forever(self, interval: float = 1.0, *, sleep: Sleep = asyncio.sleep) -> NoReturn:
        """Sends due messages until cancelled; through a database outage it backs off (see bot.loops)."""
        await keep_running(DISPATCHER_LOOP, lambda: self.step(interval), sleep=sleep)

    async def release(self) -> int:
        """Gives back the messages claimed and not yet settled (on stopping), so that another process sends them now
        rather than when the lease ends; returns how many. The attempts already made are recorded first."""
        await self.records.written()
        async with self.database.transaction() as session:
            released = await stored.release(session, worker=self.worker)
        if released:
            log.info("outbox: released %d claimed messages on stopping", released)
        return released

    def _count_possible_resend(self, message: stored.Claimed) -> None:
        """Counts a message whose last sender may have delivered it before it stopped: it may arrive twice."""
        self.counts[message.channel, Outcome.POSSIBLE_RESEND] += 1
        log.warning(
            "outbox: %s message %s was left unrecorded by %s; sending it again may deliver it twice (%d so far)",
            message.channel,
            message.id,
            message.taken_over_from,
            self.counts[message.channel, Outcome.POSSIBLE_RESEND],
        )

    async def _send(self, claimed: stored.Claimed) -> int:
        """Sends one message and records what became of it; 1 when it was sent."""
        try:
            message = fitting(claimed)
        except ValueError as error:
            log.error("outbox: %s message %s is not sent: %s", claimed.channel, claimed.id, error)
            self.counts[claimed.channel, Outcome.INVALID] += 1
            await self._settle(claimed, OutboxStatus.FAILED, str(error))
            return 0
        try:
            result = await self.senders[claimed.channel](message)
        except Exception as error:  # a sender's bug or an outage it did not expect: tried again later
            result = RetryLater(f"{type(error).__name__}: {error}")
        self.counts[claimed.channel, outcome_of(result)] += 1
        effect = effect_of(claimed.channel, message, result, self.clock())
        match result:
            case Sent():
                await self._settle(claimed, OutboxStatus.SENT, None, effect=effect)
                log.info("outbox: %s %s message %s sent", claimed.channel, claimed.kind, claimed.id)
                return 1
            case RetryLater(reason=reason, after=after):
                given_up = effect_of(claimed.channel, message, Refused(reason), self.clock())
                await self._retry(claimed, reason, after, given_up)
            case Refused(reason=reason):
                log.warning("outbox: %s message %s refused for good: %s", claimed.channel, claimed.id, reason)
                await self._settle(claimed, OutboxStatus.FAILED, reason)
            case Unreachable(reason=reason):
                log.info("outbox: %s message %s cannot reach its person: %s", claimed.channel, claimed.id, reason)
                await self._settle(claimed, OutboxStatus.FAILED, reason, effect=effect)
        return 0

    async def _retry(
        self,
        claimed: stored.Claimed,
        error: str,
        after: float | None,
        given_up: Effect | InvitationSettled | None = None,
    ) -> None:
        """Tries the message again after a backoff (or the wait the platform asked for), up to `max_attempts`; then
        fails it, with the effect of a failure (`given_up`: an invitation failed)."""
        attempts = claimed.attempts + 1
        if attempts >= self.max_attempts:
            if await self._settle(claimed, OutboxStatus.FAILED, error, effect=given_up):
                self.counts[claimed.channel, Outcome.GIVEN_UP] += 1
                log.error(
                    "outbox: %s message %s failed %d times, given up: %s", claimed.channel, claimed.id, attempts, error
                )
            return
        # At least the backoff, so that a "Retry-After: 0" does not spend every attempt at once, and at most
        # MAX_ASKED_WAIT, so that an absurd one neither overflows the clock nor parks the message for ever.
        backoff = FIRST_BACKOFF * 2 ** (attempts - 1)
        wait = backoff if after is None else max(backoff, timedelta(seconds=min(after, MAX_ASKED_WAIT.total_seconds())))
        if await self._settle(claimed, OutboxStatus.PENDING, error, next_attempt_at=self.clock() + wait):
            log.info("outbox: %s message %s failed (%s), retrying", claimed.channel, claimed.id, error)

    async def _settle(
        self,
        claimed: stored.Claimed,
        status: OutboxStatus,
        error: str | None,
        *,
        next_attempt_at: datetime | None = None,
        effect: Effect | InvitationSettled | None = None,
    ) -> bool:
        """Records the attempt, with its effect, in one transaction; False when the lease ran out and another
        dispatcher took the message over."""
        return await self.records.record(Attempt(claimed, status, error, next_attempt_at, effect))


def max_in_flight(database: Database) -> int:
    """The paced sends that may be in progress at once: IN_FLIGHT_SHARE_OF_POOL of the database's pool."""
    return max(1, int(database.pool_size * IN_FLIGHT_SHARE_OF_POOL))


@dataclass(frozen=True, slots=True)
class Attempt:
    """What became of one attempt to send a claimed message, to record: its status, with `effect` beside it."""

    message: stored.Claimed
    status: OutboxStatus
    error: str | None
    next_attempt_at: datetime | None = None
    effect: Effect | InvitationSettled | None = None


class Records:
    """Records a dispatcher's attempts in batches: those finished while a batch is written go together in the next,
    in one transaction (a campaign's twenty sends in a few commits rather than twenty). A batch that fails is
    written again one attempt at a time, so that an attempt's failure is its own. An attempt is recorded even if
    its caller is cancelled meanwhile: its message went out."""

    def __init__(self, database: Database, worker: str, clock: Callable[[], datetime]) -> None:
        self.database, self.worker, self.clock = database, worker, clock
        self._queued: list[tuple[Attempt, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, attempt: Attempt) -> bool:
        """Records the attempt; False when the lease ran out and another dispatcher took the message over."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append((attempt, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())
        return await future

    async def written(self) -> None:
        """Waits until every attempt queued so far is recorded (or failed to be)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    recorded = await self._write([attempt for attempt, _ in batch])
                except Exception as error:
                    if len(batch) == 1:
                        settle_future(batch[0][1], error=error)
                        continue
                    for attempt, future in batch:
                        try:
                            settle_future(future, (await self._write([attempt]))[0])
                        except Exception as alone:
                            settle_future(future, error=alone)
                    continue
                for (_, future), result in zip(batch, recorded, strict=True):
                    settle_future(future, result)
        finally:
            self._writer = None

    async def _write(self, attempts: list[Attempt]) -> list[bool]:
        """Records the attempts in one transaction, those alike in one statement; whether each was still ours."""
        alike: dict[tuple[OutboxStatus, str | None, datetime | None], list[int]] = {}
        for attempt in attempts:
            alike.setdefault((attempt.status, attempt.error, attempt.next_attempt_at), []).append(attempt.message.id)
        now = self.clock()
        recorded: set[int] = set()
        async with self.database.transaction() as session:
            for (status, error, next_attempt_at), message_ids in alike.items():
                recorded |= await stored.settle(
                    session,
                    message_ids=message_ids,
                    worker=self.worker,
                    status=status,
                    error=error,
                    next_attempt_at=next_attempt_at,
                    sent_at=now if status == OutboxStatus.SENT else None,
                )
            await _write_effects(session, [attempt.effect for attempt in attempts], now)
        return [attempt.message.id in recorded for attempt in attempts]


async def _write_effects(
    session: AsyncSession, effects: list[Effect | InvitationSettled | None], now: datetime
) -> None:
    """Writes the attempts' effects, the invitations settled alike in one statement."""
    settled: dict[tuple[InvitationState, str | None], list[int]] = {}
    for effect in effects:
        if isinstance(effect, InvitationSettled):
            settled.setdefault((effect.state, effect.reason), []).append(effect.invitation_id)
        elif effect is not None:
            await effect(session)
    for (state, reason), invitation_ids in settled.items():
        await stored_invitations.settle_invitations(
            session, invitation_ids=invitation_ids, state=state, reason=reason, now=now
        )


def fitting(claimed: stored.Claimed) -> OutboundMessage:
    """The claimed row as its kind's message; ValueError (naming the fields, never their values, which may be a
    person's words) when it does not fit."""
    try:
        message = decode(claimed.payload)
    except ValidationError as error:
        faults = "; ".join(f"{'.'.join(map(str, fault['loc']))}: {fault['type']}" for fault in error.errors())
        raise ValueError(f"it does not fit the {claimed.kind} model ({faults})") from None
    if message.kind != claimed.kind:
        raise ValueError(f"its payload is a {message.kind}, not a {claimed.kind}")
    return message


def effect_of(
    channel: str, message: OutboundMessage, result: SendResult, now: datetime
) -> Effect | InvitationSettled | None:
    """What a send's result tells beyond the message's own row: where a sent alert is, a person out of reach, what
    became of an invitation."""
    if isinstance(message, SurveyInvitation):
        return invitation_settled(channel, message, result, now)
    if isinstance(result, Sent) and isinstance(message, CaseAlert) and result.reference is not None:
        return partial(
            stored_cases.remember_staff_message,
            case_id=message.case_id,
            channel=channel,
            target=message.target,
            reference=result.reference,
        )
    if isinstance(result, Unreachable) and isinstance(message, CaseContact | CaseResolution | SurveyReminder):
        return partial(queries.set_reachable, channel=channel, platform_id=message.platform_id, reachable=False)
    return None


def invitation_settled(
    channel: str, message: SurveyInvitation, result: SendResult, now: datetime
) -> Effect | InvitationSettled | None:
    """The invitation sent, or failed with the reason (a person out of reach marked so); a retry records nothing."""
    if isinstance(result, RetryLater):
        return None
    state = InvitationState.SENT if isinstance(result, Sent) else InvitationState.FAILED
    reason = None if isinstance(result, Sent) else result.reason[:200]
    if not isinstance(result, Unreachable):
        return InvitationSettled(message.invitation_id, state, reason)
    settle = partial(
        stored_invitations.settle_invitation, invitation_id=message.invitation_id, state=state, reason=reason, now=now
    )

    async def settle_out_of_reach(session: AsyncSession) -> None:
        await settle(session)
        await queries.set_reachable(session, channel=channel, platform_id=message.platform_id, reachable=False)

    return settle_out_of_reach
