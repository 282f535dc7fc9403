"""Failures in listeners and in the work after the acknowledgement: one line with the error, the traceback at DEBUG."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text

from storage.db import Database
from tests.fakes.slack_signing import app_home_opened, event_callback, message_im
from tests.handlers.slack.conftest import SlackWorkspace


async def lose_the_conversations_table(database: Database) -> None:
    """A fault the database really raises: the table the next query reads is gone."""
    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE conversation RENAME TO conversation_moved"))


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_work_after_the_acknowledgement_that_fails_is_logged(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="handlers.slack")
    await lose_the_conversations_table(database)
    response = await slack.post(event_callback(app_home_opened()))  # App Home is built after the ack
    await slack.idle()
    assert response.status_code == 200
    [line] = failures(caplog)
    assert re.match(r"slack work after the acknowledgement failed: \w+Error at \w+\.py:\d+ in \w+$", line.getMessage())
    assert line.exc_info is None
    assert any(record.levelno == logging.DEBUG and record.exc_info for record in caplog.records)


async def test_a_listener_that_fails_is_logged_the_same_way_and_slack_retries(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await lose_the_conversations_table(database)
    response = await slack.post(event_callback(message_im("The coffee machine is broken")))
    assert response.status_code == 500  # not stored: Slack is told to send it again
    [line] = failures(caplog)
    assert re.match(r"slack listener failed: \w+Error at \w+\.py:\d+ in \w+$", line.getMessage())
    assert line.exc_info is None and "coffee" not in caplog.text
