"""The inbox: every update is stored before Telegram is told it arrived, then handled in order per chat.

Polling confirms an offset only after the updates below it are stored; the webhook answers 2xx only after storing.
Handled updates keep only their id (for deduplication); their payload, which names the sender, is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, func, select
from telegram import Bot, Update
from telegram.error import Conflict, NetworkError

from storage.db import Database
from storage.models import InboxUpdate
from storage.types import utcnow

CHANNEL = "telegram"
POLL_TIMEOUT_SECONDS = 25
RETRY_UNHANDLED_SECONDS = 30
CONFLICT_PAUSE_SECONDS = 5
MAX_ATTEMPTS = 5
DATABASE_ERRORS = (SQLAlchemyError, OSError)
FLUSH_SECONDS = 0.5
log = logging.getLogger(__name__)


class Inbox:
    """Stores updates, hands each to `handle` once stored, and retries the ones whose handling failed."""

    def __init__(self, database: Database, bot: Bot, handle: Callable[[Update], Awaitable[bool]]) -> None:
        self.database = database
        self.bot = bot
        self.handle = handle  # True when the update was fully handled
        self._chat_locks: dict[int, tuple[asyncio.Lock, int]] = {}  # per chat: its lock and how many use it
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handled: list[int] = []
        self.flush_seconds = FLUSH_SECONDS

    async def store(self, updates: Sequence[Update]) -> list[Update]:
        """Saves a batch of updates in one transaction; returns those not stored before (the rest are redeliveries)."""
        ids = [update.update_id for update in updates]
        try:
            async with self.database.transaction() as session:
                stored = await session.exec(
                    select(InboxUpdate.update_id).where(
                        InboxUpdate.channel == CHANNEL, col(InboxUpdate.update_id).in_(ids)
                    )
                )
                known = set(stored)
                new = [update for update in updates if update.update_id not in known]
                session.add_all(
                    InboxUpdate(channel=CHANNEL, update_id=update.update_id, payload=update.to_json()) for update in new
                )
        except IntegrityError:
            return []  # stored by a concurrent delivery
        return new

    def submit(self, update: Update) -> None:
        """Handles the update in the background: after earlier updates of its chat, beside other chats."""
        if update.update_id in self._in_flight:
            return
        self._in_flight.add(update.update_id)
        task = asyncio.create_task(self._handle_in_order(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_in_order(self, update: Update) -> None:
        chat = update.effective_chat
        key = chat.id if chat else 0
        lock, users = self._chat_locks.get(key, (asyncio.Lock(), 0))
        self._chat_locks[key] = (lock, users + 1)
        try:
            async with lock:
                if await self.handle(update):
                    self._handled.append(update.update_id)
                else:
                    await self._failed(update.update_id)
        finally:
            self._in_flight.discard(update.update_id)
            lock, users = self._chat_locks[key]
            if users == 1:
                del self._chat_locks[key]  # no update of this chat is waiting
            else:
                self._chat_locks[key] = (lock, users - 1)

    async def _failed(self, update_id: int) -> None:
        """Counts a failed attempt; after MAX_ATTEMPTS the update is given up (logged) rather than retried forever."""
        async with self.database.transaction() as session:
            row = await session.get(InboxUpdate, (CHANNEL, update_id))
            if row is None:
                return
            row.attempts += 1
            if row.attempts >= MAX_ATTEMPTS:
                log.error("telegram update %s failed %d times: given up", update_id, row.attempts)
                row.payload, row.handled_at = None, utcnow()

    async def flush_handled(self) -> None:
        """Records the handled updates in one write, dropping their payloads, then scrubs the database files if a
        /forget asked for it. Losing this in a crash is harmless: handling again is a no-op, since the engine
        applies each event once and the delivery count stops a second send."""
        handled, self._handled = self._handled, []
        # With no update in flight, a /forget handled so far is in this batch or an earlier one: once this commits,
        # no payload names the person any more.
        scrub = not self._in_flight and self.database.take_scrub_request()
        try:
            if handled:
                async with self.database.transaction() as session:
                    await session.exec(
                        update_rows(InboxUpdate)
                        .where(col(InboxUpdate.channel) == CHANNEL, col(InboxUpdate.update_id).in_(handled))
                        .values(payload=None, handled_at=utcnow())
                    )
        except DATABASE_ERRORS:
            self._handled = handled + self._handled  # kept for the next flush
            if scrub:
                self.database.request_scrub()
            raise
        if scrub:
            await self.database.scrub()

    async def flush_handled_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            with log_database_errors("recording handled updates"):
                await self.flush_handled()

    async def resubmit_unhandled(self) -> int:
        """Hands every stored but unhandled update to `handle` again, oldest first (at start and after failures)."""
        async with self.database.snapshot() as session:
            rows = await session.exec(
                select(InboxUpdate.update_id, InboxUpdate.payload)
                .where(InboxUpdate.channel == CHANNEL, col(InboxUpdate.handled_at).is_(None))
                .order_by(col(InboxUpdate.update_id))
            )
            pending = [(update_id, payload) for update_id, payload in rows if payload]
        for _, payload in pending:
            update = Update.de_json(json.loads(payload), self.bot)
            if update is not None:
                self.submit(update)
        return len(pending)

    async def retry_unhandled_forever(self) -> None:
        while True:
            await asyncio.sleep(RETRY_UNHANDLED_SECONDS)
            with log_database_errors("resubmitting stored updates"):
                await self.resubmit_unhandled()

    async def next_offset(self) -> int | None:
        """Past the newest stored update, so nothing stored is fetched again; None on first start."""
        async with self.database.snapshot() as session:
            newest = (
                await session.exec(select(func.max(InboxUpdate.update_id)).where(InboxUpdate.channel == CHANNEL))
            ).one()
        return newest + 1 if newest is not None else None

    async def poll(self) -> None:
        """Long polling: the offset moves past an update only on the next call, after it was stored."""
        await self.bot.delete_webhook()
        offset = await self.next_offset()
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT_SECONDS, allowed_updates=Update.ALL_TYPES
                )
            except Conflict as error:
                log.error("another process polls this bot token (%s); use webhook mode for several", error.message)
                await asyncio.sleep(CONFLICT_PAUSE_SECONDS)
                continue
            except NetworkError as error:
                log.warning("getUpdates failed (%s); retrying", error.message)
                await asyncio.sleep(2)
                continue
            try:
                stored = await self.store(updates)
            except DATABASE_ERRORS as error:  # not confirmed to Telegram: fetched again on the next call
                log.error("could not store %d telegram updates (%s); fetching them again", len(updates), error)
                await asyncio.sleep(2)
                continue
            for update in stored:
                self.submit(update)
            if updates:
                offset = updates[-1].update_id + 1

    async def drain(self) -> None:
        """Waits for the updates being handled and records them (on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush_handled()


@contextmanager
def log_database_errors(doing: str) -> Iterator[None]:
    """Keeps a background loop alive through a database outage: logs and lets the next round try again."""
    try:
        yield
    except DATABASE_ERRORS as error:
        log.error("telegram: %s failed (%s); trying again later", doing, error)
