"""The minute's sweep of `feedbackbot run` counts in its one log line what retention removed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.config import PrivacySettings, Settings
from bot.engine import Engine
from bot.surveys import Survey
from handlers.runner import sweep
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock, database_dump


async def test_the_sweep_anonymises_inactive_people_and_says_how_many(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.now = datetime.now(UTC)  # rows are stamped with the wall clock when added
    settings = Settings(privacy=PrivacySettings(retention_days=30))
    core = Core(
        settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, CaseDesk(), clock)
    )
    await Customer(engine, user_id="gone-714862471").start("csat", "ORDER-GONE")
    clock.advance(days=31)

    with caplog.at_level(logging.INFO, logger="handlers.runner"):
        await sweep(core)

    assert "anonymised 1 inactive people" in caplog.text
    assert "gone-714862471" not in await database_dump(database)
