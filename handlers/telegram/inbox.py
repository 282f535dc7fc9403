"""The inbox: every update is stored before Telegram is told it arrived, then handled in order per chat.

Polling confirms an offset only after the updates below it are stored; the webhook answers 2xx only after storing.
The webhook's requests that arrive while a store is under way are stored together, in one commit.
Handled updates keep only their id (for deduplication); their payload, which names the sender, is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, Chat, Update, User
from telegram.error import RetryAfter

import storage.inbox
from bot.correlation import correlated
from storage.db import Database
from storage.types import utcnow

CHANNEL = "telegram"
POLL_TIMEOUT_SECONDS = 25
RETRY_UNHANDLED_SECONDS = 30
MAX_UPDATE_ID = 2**63 - 1  # what the BIGINT column holds
FROM_A_USER = ("message", "edited_message", "callback_query", "my_chat_member")  # the kinds the handlers take
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
        # Held while handled ids are being recorded and while a resubmission reads the unhandled ones, so that it
        # never reads an update as unhandled whose handled mark is on its way.
        self._recording = asyncio.Lock()
        self.flush_seconds = FLUSH_SECONDS
        self._polling = False
        self._offset: int | None = None

    async def receive(self, received: Received) -> None:
        """Stores a webhook's update in the transaction of the others arriving meanwhile (the group commit's), then
        hands it over if it is new. Returns once it is stored (or dropped as unusable); raises the database's error
        when it could not be."""
        if await self.database.group_commit.run(partial(self._store_new, [received])):
            self.submit(received.update)

    async def store(self, updates: Sequence[Update]) -> list[Update]:
        """Saves a batch of updates in one transaction; returns those not stored before (the rest are redeliveries)."""
        async with self.database.transaction() as session:
            return await self._store_new([Received(update, update.to_json()) for update in updates], session)

    async def _store_new(self, received: Sequence[Received], session: AsyncSession) -> list[Update]:
        """Stores the updates not stored before and returns them. An update the handlers could not use is dropped
        here, with one log line."""
        payloads = {update.update_id: payload for update, payload in received if usable(update)}
        if not payloads:
            return []
        new = await storage.inbox.store_new(session, channel=CHANNEL, payloads=payloads)
        return [update for update, _ in received if update.update_id in new]

    def submit(self, update: Update) -> None:
        """Handles the update in the background: after earlier updates of its chat, beside other chats. One being
        handled, or handled and not yet recorded so, is not handled again."""
        if update.update_id in self._in_flight or update.update_id in self._handled:
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
                with correlated(update_event_id(update.update_id)):
                    await self._handle(update)
        finally:
            self._in_flight.discard(update.update_id)
            lock, users = self._chat_locks[key]
            if users == 1:
                del self._chat_locks[key]  # no update of this chat is waiting
            else:
                self._chat_locks[key] = (lock, users - 1)

    async def _handle(self, update: Update) -> None:
        """Hands the update to the handlers: one line when handled, the attempt counted when not."""
        if await self.handle(update):
            self._handled.append(update.update_id)
            log.info("telegram update %s handled (%s)", update.update_id, kind_of(update))
        else:
            await self._failed(update.update_id)

    async def _failed(self, update_id: int) -> None:
        """Counts a failed attempt; after MAX_ATTEMPTS the update is given up (logged) rather than retried forever.
        With the database down (often why it failed) the attempt goes uncounted: the update stays for the retry."""
        try:
            async with self.database.transaction() as session:
                failures = await storage.inbox.count_failure(
                    session, channel=CHANNEL, update_id=update_id, give_up_after=MAX_ATTEMPTS, now=utcnow()
                )
        except DATABASE_ERRORS as error:
            log.warning(
                "telegram update %s failed and the database is unreachable (%s)", update_id, type(error).__name__
            )
            return
        if failures is not None and failures >= MAX_ATTEMPTS:  # None: a resubmission read before it was given up
            log.error("telegram update %s failed %d times: given up", update_id, failures)

    async def flush_handled(self) -> None:
        """Records the handled updates, never while a resubmission reads which are unhandled."""
        async with self._recording:
            await self._record_handled()

    async def _record_handled(self) -> None:
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
                    await storage.inbox.mark_handled(session, channel=CHANNEL, update_ids=handled, now=utcnow())
        except DATABASE_ERRORS:
            self._handled = handled + self._handled  # kept for the next flush
            if scrub:
                self.database.request_scrub()
            raise
        if scrub:
            await self.database.scrub()

    async def flush_round(self) -> float:
        """One round of the loop that records handled updates; returns the wait before the next."""
        await self.flush_handled()
        return self.flush_seconds

    async def retry_round(self) -> float:
        """One round of the loop that retries stored updates whose handling failed; returns the wait before the next."""
        await self.resubmit_unhandled()
        return RETRY_UNHANDLED_SECONDS

    async def resubmit_unhandled(self) -> int:
        """Hands every stored but unhandled update to `handle` again, oldest first (at start and after failures)."""
        async with self._recording:
            async with self.database.snapshot() as session:
                pending = await storage.inbox.unhandled(session, channel=CHANNEL)
            for update_id, payload in pending:
                received = parse_update(json.loads(payload), self.bot)
                if received is None:  # stored by an older version that did not check
                    await self._failed(update_id)
                else:
                    self.submit(received.update)
        return len(pending)

    async def next_offset(self) -> int | None:
        """Past the newest stored update, so nothing stored is fetched again; None on first start.
        Ids an older version stored unchecked (SQLite keeps text in an integer column) are passed over."""
        async with self.database.snapshot() as session:
            newest = await storage.inbox.newest_update_id(session, channel=CHANNEL, at_most=MAX_UPDATE_ID)
        return newest + 1 if newest is not None else None

    async def poll_once(self) -> float:
        """One long poll; the offset moves past an update only on the next call, after it was stored.
        Returns the wait before the next poll: none, or what Telegram asks after a 429."""
        if not self._polling:
            await self.bot.delete_webhook()
            self._offset, self._polling = await self.next_offset(), True
        try:
            updates = await self.bot.get_updates(
                offset=self._offset, timeout=POLL_TIMEOUT_SECONDS, allowed_updates=Update.ALL_TYPES
            )
        except RetryAfter as error:
            wait = seconds(error.retry_after)
            log.warning("telegram asks the bot to wait %g s before polling again", wait)
            return wait
        for update in await self.store(updates):  # on a database error nothing is confirmed: fetched again
            self.submit(update)
        if updates:
            self._offset = updates[-1].update_id + 1
        return 0

    async def drain(self) -> None:
        """Waits for the updates being handled and records them (on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush_handled()


def update_event_id(update_id: int) -> str:
    """The update's event id, which is also its correlation id: its records and its log lines meet."""
    return f"{CHANNEL}-{update_id}"


def kind_of(update: Update) -> str:
    """What the update carries (message, callback_query, ...): its one field of Update.ALL_TYPES."""
    return next((str(kind) for kind in Update.ALL_TYPES if getattr(update, kind, None) is not None), "update")


class Received(NamedTuple):
    """An update, and the JSON of it that the inbox stores."""

    update: Update
    payload: str


def parse_update(data: Any, bot: Bot) -> Received | None:
    """The update in a decoded webhook body or stored payload, with what the inbox stores of it; None when Telegram
    cannot have sent it."""
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if type(update_id) is not int or not 0 < update_id <= MAX_UPDATE_ID:  # bool is an int, too
        return None
    try:
        update = Update.de_json(data, bot)
        return Received(update, update.to_json())
    except Exception:  # de_json raises whatever the payload makes it raise, RecursionError included
        return None


def usable(update: Update) -> bool:
    """Whether the update has what every handler relies on (PTB does not check types); logs why not."""
    if problem := missing_part(update):
        log.warning("telegram update %s dropped: %s", update.update_id, problem)
        return False
    return True


def missing_part(update: Update) -> str | None:
    """What of the update its handler would need and not find (only a forged or broken payload lacks it)."""
    if not any(getattr(update, kind) is not None for kind in Update.ALL_TYPES):
        return "no content of a known kind"
    message = update.effective_message
    if message is not None and not is_chat(message.chat):
        return "a message without a chat"
    if message is not None and message.text is not None and not isinstance(message.text, str):
        return "a message text that is not a string"
    if update.my_chat_member is not None and not is_chat(update.my_chat_member.chat):
        return "a membership change without a chat"
    if update.callback_query is not None and not isinstance(update.callback_query.data, str):
        return "a button press without data"
    if any(getattr(update, kind) is not None for kind in FROM_A_USER) and not is_user(update.effective_user):
        return "no sender"
    return None


def is_chat(chat: object) -> bool:
    return isinstance(chat, Chat) and type(chat.id) is int


def is_user(user: object) -> bool:
    return isinstance(user, User) and type(user.id) is int


def seconds(retry_after: int | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
