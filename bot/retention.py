"""Retention, a scheduled job that the minute's sweep runs when it is due (hourly, and each minute while a backlog
drains): bookkeeping rows pruned after their deduplication window, and people inactive longer than
`[privacy] retention_days` anonymised exactly as their own /forget would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.config import PrivacySettings
from bot.events import Respondent
from bot.people import People, PrivacyKeys
from storage import retention, schedule
from storage.db import Database
from storage.retention import Pruned

# Deduplication windows. Telegram redelivers an update for up to 24 h and Slack retries for minutes, so a week
# recognises every redelivery; a failed outbox message stays a month for operators to look into.
SEEN_WINDOW = timedelta(days=7)
SENT_WINDOW = timedelta(days=7)
FAILED_WINDOW = timedelta(days=30)
BATCH = 500  # rows of each kind, or people, per run: a backlog drains over several minutes
JOB = "retention"
EVERY = timedelta(hours=1)


class RetentionCounts(NamedTuple):
    pruned: Pruned
    forgotten: int  # people anonymised
    texts_cleared: int  # answers and complaints whose words were cleared

    def left_work_over(self) -> bool:
        """Whether a batch was full, so that more may wait."""
        return max(*self.pruned, self.forgotten) >= BATCH


NOTHING_REMOVED = RetentionCounts(Pruned(inbox=0, events=0, outbox=0), forgotten=0, texts_cleared=0)


class Retention:
    def __init__(
        self,
        database: Database,
        people: People,
        keys: PrivacyKeys,
        settings: PrivacySettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self._people = people
        self._keys = keys
        self._settings = settings
        self._clock = clock

    async def sweep(self) -> RetentionCounts:
        """Runs the job if it is due and no other process took this run; what it removed."""
        now = self._clock()
        async with self._database.transaction() as session:
            if not await schedule.claim_run(session, job=JOB, now=now, next_due=now + EVERY):
                return NOTHING_REMOVED
        counts = await self._remove(now)
        if counts.left_work_over():
            async with self._database.transaction() as session:
                await schedule.make_due(session, job=JOB, at=now)  # the next minute's sweep goes on
        return counts

    async def _remove(self, now: datetime) -> RetentionCounts:
        async with self._database.transaction() as session:
            pruned = await retention.prune_bookkeeping(
                session,
                seen_before=now - SEEN_WINDOW,
                sent_before=now - SENT_WINDOW,
                failed_before=now - FAILED_WINDOW,
                batch=BATCH,
            )
        if self._settings.retention_days is None:
            return RetentionCounts(pruned, forgotten=0, texts_cleared=0)
        cutoff = now - timedelta(days=self._settings.retention_days)
        return RetentionCounts(pruned, await self._forget_inactive(cutoff), await self._clear_free_text(cutoff))

    async def _forget_inactive(self, cutoff: datetime) -> int:
        """Up to BATCH inactive people, each forgotten in a transaction of their own by the rules of /forget. Pages
        on by id, so that people kept for their recent events do not hold back those behind them."""
        forgotten, after_id = 0, 0
        while forgotten < BATCH:
            async with self._database.snapshot() as session:
                page = await retention.people_inactive_since(session, before=cutoff, after_id=after_id, limit=BATCH)
            if not page:
                return forgotten
            for person in page:
                forgotten += await self._forget_if_inactive(Respondent(person.channel, person.platform_id), cutoff)
            after_id = page[-1].id
        return forgotten

    async def _forget_if_inactive(self, who: Respondent, cutoff: datetime) -> int:
        async with self._database.transaction() as session:
            if not await retention.claim_person(session, channel=who.channel, platform_id=who.user_id):
                return 0  # gone, or another process is forgetting them
            if await retention.active_since(session, respondent_keys=self._keys.respondent_keys(who), since=cutoff):
                return 0
            await self._people.forget(session, who)
            return 1

    async def _clear_free_text(self, cutoff: datetime) -> int:
        if not self._settings.retention_free_text:
            return 0
        async with self._database.transaction() as session:
            return await retention.clear_free_text(session, before=cutoff)
