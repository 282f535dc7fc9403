"""The transactional outbox: messages written with the change they report, sent once by the dispatcher.

A message is claimed for a short lease (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so several bot processes
share the work and never claim the same row), sent outside any transaction, then marked sent. A process that dies
holding a lease leaves the message to be claimed again when the lease runs out. Failures are retried with backoff;
a refusal that cannot get better fails the message at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.loops import Sleep, keep_running
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus
from storage.types import utcnow

LEASE = timedelta(seconds=60)
BATCH = 20
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=2)
DISPATCHER_LOOP = "outbox dispatcher"
log = logging.getLogger(__name__)

Sender = Callable[[str, dict[str, Any]], Awaitable[None]]  # (kind, payload)


class Undeliverable(Exception):
    """The platform refuses for good (unknown channel, blocked user): not retried."""


def enqueue(session: AsyncSession, *, channel: str, kind: str, payload: Mapping[str, Any], now: datetime) -> None:
    """Adds a message to the caller's transaction: it exists if and only if the change it reports is committed."""
    session.add(
        OutboxMessage(channel=channel, kind=kind, payload=json.dumps(payload), next_attempt_at=now, created_at=now)
    )


class Dispatcher:
    """Sends due outbox messages through the senders of the configured channels."""

    def __init__(
        self,
        database: Database,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
    ) -> None:
        self.database = database
        self.senders = senders
        self.clock = clock
        self.lease = lease
        self.worker = f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.possible_resends = 0  # messages taken over from a sender that stopped before recording them

    async def run_once(self) -> int:
        """Claims and sends one batch of due messages; returns how many were sent."""
        claimed = await self._claim()
        sent = 0
        for message in claimed:
            sent += await self._send(message)
        return sent

    async def step(self, interval: float = 1.0) -> float:
        """One round of the dispatcher's loop: sends a batch; returns the wait before the next (none while busy)."""
        return 0 if await self.run_once() else interval

    async def run_forever(self, interval: float = 1.0, *, sleep: Sleep = asyncio.sleep) -> NoReturn:
        """Sends due messages until cancelled; through a database outage it backs off (see bot.loops)."""
        await keep_running(DISPATCHER_LOOP, lambda: self.step(interval), sleep=sleep)

    async def _claim(self) -> list[OutboxMessage]:
        now = self.clock()
        async with self.database.transaction() as session:
            due = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    col(OutboxMessage.channel).in_(list(self.senders)),
                    col(OutboxMessage.next_attempt_at) <= now,
                    or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now),
                )
                .order_by(col(OutboxMessage.id))
                .limit(BATCH)
                .with_for_update(skip_locked=True)  # PostgreSQL: rows another process holds are skipped
            )
            claimed = list(await session.exec(due))
            for message in claimed:
                if message.claimed_until is not None:  # a lease ran out unsettled: its holder stopped mid-send
                    self._count_possible_resend(message)
                message.claimed_until, message.claimed_by = now + self.lease, self.worker
        return claimed

    def _count_possible_resend(self, message: OutboxMessage) -> None:
        """Counts a message whose last sender may have delivered it before it stopped: it may arrive twice."""
        self.possible_resends += 1
        log.warning(
            "outbox: %s message %s was left unrecorded by %s; sending it again may deliver it twice (%d so far)",
            message.channel,
            message.id,
            message.claimed_by,
            self.possible_resends,
        )

    async def _send(self, message: OutboxMessage) -> int:
        sender = self.senders[message.channel]
        try:
            await sender(message.kind, json.loads(message.payload))
        except Undeliverable as error:
            await self._settle(message, OutboxStatus.FAILED, str(error))
            log.warning("outbox: %s message %s refused for good: %s", message.channel, message.id, error)
            return 0
        except Exception as error:
            await self._retry(message, f"{type(error).__name__}: {error}")
            return 0
        await self._settle(message, OutboxStatus.SENT, None)
        return 1

    async def _settle(self, message: OutboxMessage, status: OutboxStatus, error: str | None) -> None:
        async with self.database.transaction() as session:
            row = await session.get(OutboxMessage, message.id)
            if row is None or row.claimed_by != self.worker:
                return  # the lease ran out and another dispatcher took over
            row.status, row.last_error, row.claimed_until = status, error and error[:200], None
            row.attempts += 1
            if status == OutboxStatus.SENT:
                row.sent_at = self.clock()

    async def _retry(self, message: OutboxMessage, error: str) -> None:
        async with self.database.transaction() as session:
            row = await session.get(OutboxMessage, message.id)
            if row is None or row.claimed_by != self.worker:
                return
            row.attempts += 1
            row.last_error, row.claimed_until = error[:200], None
            if row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED
                log.error(
                    "outbox: %s message %s failed %d times, given up: %s", row.channel, row.id, row.attempts, error
                )
            else:
                row.next_attempt_at = self.clock() + FIRST_BACKOFF * 2 ** (row.attempts - 1)
                log.info("outbox: %s message %s failed (%s), retrying", row.channel, row.id, error)
