"""Tells staff that a channel's handler failed: a short notice without personal data, rate-limited, via the outbox.

The notice names the platform, the place in the bot's code, the error's type and the kind of update, never the
error's message (it may quote a person's words or a query's parameters) nor who sent the update.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot import outbox
from bot.cases import StaffDestination
from bot.outbound import StaffNotice
from storage.db import Database
from storage.types import utcnow

SAME_ERROR_WINDOW = timedelta(minutes=10)
HOURLY_LIMIT = 6
HOUR = timedelta(hours=1)
OUR_CODE = tuple(Path(__file__).resolve().parents[1] / package for package in ("bot", "handlers", "storage"))
log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # platform, error type, place


def raised_at(error: BaseException) -> str:
    """The innermost frame of the bot's own code in the error's traceback (else of a library's), as file:line in
    function."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    ours = [frame for frame in frames if any(Path(frame.filename).is_relative_to(code) for code in OUR_CODE)]
    frame = (ours or frames)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"


@dataclass
class NoticeLimiter:
    """At most one notice per key a window, and a few an hour overall; counts what it holds back, per key."""

    window: timedelta = SAME_ERROR_WINDOW
    hourly_limit: int = HOURLY_LIMIT
    last_notice: dict[Key, datetime] = field(default_factory=dict)
    held_back: Counter[Key] = field(default_factory=Counter)
    notices_this_hour: deque[datetime] = field(default_factory=deque)

    def admit(self, key: Key, now: datetime) -> int | None:
        """None when this error is held back; else how many like it were held back since its last notice."""
        while self.notices_this_hour and now - self.notices_this_hour[0] >= HOUR:
            self.notices_this_hour.popleft()
        last = self.last_notice.get(key)
        if (last is not None and now - last < self.window) or len(self.notices_this_hour) >= self.hourly_limit:
            self.held_back[key] += 1
            return None
        self.last_notice[key] = now
        self.notices_this_hour.append(now)
        return self.held_back.pop(key, 0)

    def lost(self, key: Key, count: int) -> None:
        """A notice that could not be queued: its errors are told with the next one."""
        self.held_back[key] += count


class StaffNotices:
    """Queues a notice of a failed handler to every staff destination (by channel), as case alerts go."""

    def __init__(
        self,
        database: Database,
        destinations: Mapping[str, StaffDestination],
        clock: Callable[[], datetime] = utcnow,
        limiter: NoticeLimiter | None = None,
    ) -> None:
        self.database = database
        self.destinations = destinations
        self.clock = clock
        self.limiter = limiter or NoticeLimiter()

    async def handler_failed(self, platform: str, error: BaseException, update_kind: str) -> None:
        """Queues the notice unless the limiter holds it back. Never raises: it runs in error handlers, and the
        database may be the failure itself."""
        if not self.destinations:
            return
        now = self.clock()
        place = raised_at(error)
        key = (platform, type(error).__name__, place)
        held_back = self.limiter.admit(key, now)
        if held_back is None:
            return
        text = notice_text(key, update_kind, now, held_back)
        try:
            async with self.database.transaction() as session:
                for channel, destination in self.destinations.items():
                    notice = StaffNotice(target=destination.target, text=text)
                    outbox.enqueue(session, channel=channel, message=notice, now=now)
        except Exception as failure:
            self.limiter.lost(key, held_back + 1)
            log.warning("could not queue the staff notice of a %s error (%s)", platform, type(failure).__name__)


def notice_text(key: Key, update_kind: str, now: datetime, held_back: int) -> str:
    platform, error_type, place = key
    text = (
        f"A {platform} handler failed: {error_type} at {place}, while handling a {update_kind}. "
        f"The bot's log at {now:%Y-%m-%d %H:%M} UTC has the details."
    )
    return f"{text} And {held_back} more like it since." if held_back else text
