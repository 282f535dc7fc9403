"""Pacing: a burst passes, then one message per interval per conversation; other conversations never wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.pacing import Pacer


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the pacer asks for, recorded instead of slept (the clock stands still)."""
    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(round(seconds, 2))

    monkeypatch.setattr(asyncio, "sleep", sleep)  # the modules bot.pacing uses
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    return recorded


async def test_a_burst_passes_then_messages_are_spaced(waits: list[float]) -> None:
    pacer = Pacer(interval=1.0, burst=3)
    for _ in range(5):
        await pacer.wait("chat-1")
    assert waits == [1.0, 2.0]  # the 4th and 5th messages wait for their slot


async def test_other_conversations_do_not_wait(waits: list[float]) -> None:
    pacer = Pacer(interval=1.0, burst=1)
    await asyncio.gather(*(pacer.wait(f"chat-{n}") for n in range(10)))
    assert waits == []
