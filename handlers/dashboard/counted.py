"""The reports the overview shows, counted at most once a minute per choice of filters: with a million answers a
report takes the database seconds, and a manager clicking between pages should not pay them each time."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.reports import Report
from handlers.dashboard.filters import Filters

FRESH_FOR = timedelta(minutes=1)
KEPT = 64  # reports kept, the most recently counted


@dataclass(frozen=True, slots=True)
class Counted:
    report: Report
    at: datetime


class CountedReports:
    """Each report counted by `count`, kept for `FRESH_FOR`. One report is counted at a time: several people opening
    the dashboard at once wait for one count rather than start one each, which would slow every one of them."""

    def __init__(self, count: Callable[[Filters], Awaitable[Report]], clock: Callable[[], datetime]) -> None:
        self.count, self.clock = count, clock
        self.kept: OrderedDict[Filters, Counted] = OrderedDict()
        self.counting = asyncio.Lock()

    async def report(self, filters: Filters) -> Counted:
        async with self.counting:
            kept = self.kept.get(filters)
            if kept is None or self.clock() - kept.at >= FRESH_FOR:
                kept = Counted(await self.count(filters), self.clock())
                self.kept[filters] = kept
            self.kept.move_to_end(filters)
            while len(self.kept) > KEPT:
                self.kept.popitem(last=False)
            return kept
