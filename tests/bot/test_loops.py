"""Background loops: a failing step is retried with a capped backoff, logged once; a loop that stops is reported."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.loops import Loops, keep_running


class Enough(BaseException):
    """Ends a loop under test: no loop catches it, as none catches a library's SystemExit."""


def bot_loop_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "bot.loops"]


async def test_a_loop_survives_any_error_logging_one_line_and_one_on_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outcomes: list[Exception | None] = [KeyError("x"), ValueError("bad\nSQL: select ..."), TypeError("t"), None]
    waits: list[float] = []

    async def step() -> float:
        if (outcome := outcomes.pop(0)) is not None:
            raise outcome
        return 5

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not outcomes:
            raise Enough

    with pytest.raises(Enough):
        await keep_running("the test loop", step, sleep=sleep)
    assert waits == [0, 1, 2, 4, 5]
    assert bot_loop_lines(caplog) == [
        ("ERROR", "the test loop failed (KeyError: 'x'); trying again, less often while it fails"),
        ("INFO", "the test loop works again after 3 failed attempts"),
    ]
    assert all(record.exc_info is None for record in caplog.records if record.levelno >= logging.INFO)


async def test_a_loop_that_stops_is_reported_until_stopped_on_purpose(caplog: pytest.LogCaptureFixture) -> None:
    loops = Loops()

    async def fatal() -> float:
        raise Enough

    async def idle() -> float:
        return 60

    loops.start("fatal", fatal)
    loops.start("idle", idle)
    async with asyncio.timeout(5):
        while not loops.dead():  # noqa: ASYNC110  (the task has no event to wait on)
            await asyncio.sleep(0.01)
    assert loops.dead() == ["fatal"]
    assert ("CRITICAL", "background loop 'fatal' stopped (Enough)") in bot_loop_lines(caplog)
    await loops.stop()
    assert loops.dead() == []
