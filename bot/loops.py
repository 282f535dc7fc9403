"""The bot's background loops: each survives any exception, backing off while it fails; the health check sees a
loop that has stopped all the same.

A loop is a step called again and again; the step returns how long to wait before the next call. While a step
fails, the waits double from FIRST_BACKOFF to MAX_BACKOFF: one log line when a loop starts failing, one when it
works again, the tracebacks at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[float]]  # one round; returns the seconds to wait before the next
Sleep = Callable[[float], Awaitable[None]]


class Backoff:
    """The waits of a failing loop: FIRST_BACKOFF, doubling at each failure up to MAX_BACKOFF."""

    def __init__(self, first: float = FIRST_BACKOFF, cap: float = MAX_BACKOFF) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def failed(self) -> float:
        """Counts a failure; returns how long to wait before trying again."""
        self.failures += 1
        return min(self.cap, self.first * 2.0 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


def summary(error: BaseException) -> str:
    """The error in one short line: its type and the first line of its message (SQL and parameters follow it)."""
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line[:200]}" if first_line else type(error).__name__


async def keep_running(name: str, step: Step, *, first_wait: float = 0, sleep: Sleep = asyncio.sleep) -> NoReturn:
    """Calls `step` until cancelled, whatever it raises: a failure is logged once and waited out with a backoff."""
    backoff = Backoff()
    await sleep(first_wait)
    while True:
        try:
            wait = await step()
        except Exception as error:
            wait = backoff.failed()
            log.debug("%s failed", name, exc_info=True)
            if backoff.failures == 1:
                log.error("%s failed (%s); trying again, less often while it fails", name, summary(error))
        else:
            if backoff.failures:
                log.info("%s works again after %d failed attempts", name, backoff.failures)
                backoff.reset()
        await sleep(wait)


class Loops:
    """The named background loops of the process, and which of them have stopped though nobody stopped them."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, step: Step, *, first_wait: float = 0) -> None:
        """Runs `step` in the background as the loop `name` (see keep_running)."""
        task = asyncio.create_task(keep_running(name, step, first_wait=first_wait), name=name)
        task.add_done_callback(self._report_stop)
        self._tasks[name] = task

    def _report_stop(self, task: asyncio.Task[None]) -> None:
        if self._tasks.get(task.get_name()) is task:  # not stopped by `stop`
            error = None if task.cancelled() else task.exception()
            log.critical("background loop %r stopped (%s)", task.get_name(), summary(error) if error else "cancelled")

    def dead(self) -> list[str]:
        """The loops that have stopped without being told to."""
        return [name for name, task in self._tasks.items() if task.done()]

    async def stop(self, *names: str) -> None:
        """Stops the named loops that run (all without names) and waits for them to end."""
        tasks = [task for name in names or list(self._tasks) if (task := self._tasks.pop(name, None))]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
