"""Notices to staff of a failed handler: rate-limited per error and overall, queued in the outbox, never raising."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.cases import StaffDestination
from bot.outbound import Kind
from bot.staff_notices import NoticeLimiter, StaffNotices
from storage.db import Database
from storage.models import OutboxMessage
from tests.conftest import Clock

DATABASE_DOWN = ("telegram", "OperationalError", "inbox.py:12 in store")
BUG = ("slack", "KeyError", "events.py:40 in home_opened")


def test_the_first_error_of_a_kind_is_told_at_once(clock: Clock) -> None:
    assert NoticeLimiter().admit(BUG, clock()) == 0


def test_the_same_error_within_ten_minutes_is_held_back_and_counted_in_the_next_notice(clock: Clock) -> None:
    limiter = NoticeLimiter()
    limiter.admit(BUG, clock())
    clock.advance(minutes=9, seconds=59)
    assert [limiter.admit(BUG, clock()), limiter.admit(BUG, clock())] == [None, None]
    clock.advance(seconds=1)
    assert limiter.admit(BUG, clock()) == 2
    assert limiter.admit(BUG, clock()) is None


def test_another_error_is_told_within_the_window_of_the_first(clock: Clock) -> None:
    limiter = NoticeLimiter()
    limiter.admit(BUG, clock())
    assert limiter.admit(DATABASE_DOWN, clock()) == 0
    assert limiter.admit(("telegram", "KeyError", "events.py:40 in home_opened"), clock()) == 0


def test_no_more_than_six_notices_an_hour_overall(clock: Clock) -> None:
    limiter = NoticeLimiter()
    places = [("slack", "KeyError", f"events.py:{line} in home_opened") for line in range(8)]
    told = []
    for place in places:
        told.append(limiter.admit(place, clock()))
        clock.advance(minutes=1)
    assert told == [0] * 6 + [None, None]
    clock.advance(minutes=53)  # an hour after the first notice
    assert limiter.admit(places[6], clock()) == 1


async def test_a_notice_is_queued_for_every_staff_destination(database: Database, clock: Clock) -> None:
    notices = StaffNotices(
        database, {"telegram": StaffDestination("-100123"), "slack": StaffDestination("CSTAFF")}, clock
    )
    await notices.handler_failed("telegram", raised(KeyError("customer 714862471 said: my card")), "message")
    async with database.snapshot() as session:
        queued = list(await session.exec(select(OutboxMessage)))
    assert [(row.channel, row.kind, json.loads(row.payload)["target"]) for row in queued] == [
        ("telegram", Kind.STAFF_NOTICE, "-100123"),
        ("slack", Kind.STAFF_NOTICE, "CSTAFF"),
    ]
    text = json.loads(queued[0].payload)["text"]
    assert "KeyError" in text and "test_staff_notices.py" in text and "message" in text
    assert "714862471" not in text and "card" not in text


async def test_when_the_database_is_down_the_notice_is_logged_as_lost_and_counted_in_the_next(
    tmp_path: Path, database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    down = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir.db")
    limiter = NoticeLimiter(window=timedelta(0))
    await StaffNotices(down, {"slack": StaffDestination("CSTAFF")}, clock, limiter).handler_failed(
        "slack", raised(KeyError()), "x"
    )
    await down.close()
    assert "could not queue the staff notice of a slack error (OperationalError)" in caplog.text
    await StaffNotices(database, {"slack": StaffDestination("CSTAFF")}, clock, limiter).handler_failed(
        "slack", raised(KeyError()), "x"
    )
    async with database.snapshot() as session:
        [queued] = list(await session.exec(select(OutboxMessage)))
    assert json.loads(queued.payload)["text"].endswith("And 1 more like it since.")


def raised(error: Exception) -> Exception:
    """The error with a traceback, as a handler's error handler receives it."""
    try:
        raise error
    except Exception as caught:
        return caught
