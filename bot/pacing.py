"""Pacing per conversation, as Telegram and Slack ask: a short burst passes, then one message per interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

STALE_KEYS_LIMIT = 10_000


class Pacer:
    """Generic cell rate algorithm per key (a chat, a channel); waiting for one key never holds up another."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = burst
        self._due: dict[Hashable, float] = {}  # when each key's next message is due at the steady rate

    async def wait(self, key: Hashable) -> None:
        now = time.monotonic()
        due = max(self._due.get(key, now), now)
        self._due[key] = due + self.interval
        if len(self._due) > STALE_KEYS_LIMIT:
            self._due = {k: at for k, at in self._due.items() if at > now}
        wait = due - (self.burst - 1) * self.interval - now
        if wait > 0:
            await asyncio.sleep(wait)
