"""A listener or the work after the ack that fails is told in the staff channel: once per error and place in ten
minutes, without personal data."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import text

from bot.cases import CaseDesk, StaffDestination
from bot.outbox import Dispatcher
from storage.db import Database
from tests.conftest import Clock
from tests.fakes.slack_signing import USER_ID, app_home_opened, event_callback, message_im
from tests.handlers.slack.conftest import STAFF, SlackWorkspace, bot_lines, press, start_from_home

STAFF_CHANNEL = "CSTAFF01"
SECRET_WORDS = "The coffee machine is broken"
NOTICE = r"A slack handler failed: \w+Error at \w+\.py:\d+ in \w+, while handling a {kind}\. .* has the details\."


@pytest.fixture
def desk() -> CaseDesk:
    """Staff hear of cases (and so of errors) in the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination(STAFF_CHANNEL)})


@pytest.fixture
def staff_channel(slack: SlackWorkspace, database: Database, clock: Clock) -> Dispatcher:
    """The staff channel in the workspace, and the outbox that posts there."""
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    return Dispatcher(database, {"slack": slack.channel.send}, clock=clock)


async def lose_the_conversations_table(database: Database) -> None:
    """A fault the database really raises: the table the next query reads is gone."""
    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE conversation RENAME TO conversation_moved"))


async def a_message_fails(slack: SlackWorkspace, staff_channel: Dispatcher) -> None:
    assert (await slack.post(event_callback(message_im(SECRET_WORDS)))).status_code == 500
    await staff_channel.run_once()


def notices(slack: SlackWorkspace) -> list[dict[str, Any]]:
    """The staff channel's notices of failures (case alerts left out)."""
    return [message for message in slack.fake.messages(STAFF_CHANNEL) if message["text"].startswith("A slack handler")]


async def test_a_failed_listener_is_told_in_the_staff_channel_without_personal_data(
    slack: SlackWorkspace, staff_channel: Dispatcher, database: Database
) -> None:
    await lose_the_conversations_table(database)
    await a_message_fails(slack, staff_channel)
    [notice] = notices(slack)
    assert re.fullmatch(NOTICE.format(kind="message event"), notice["text"])
    [shown] = notice["blocks"]
    assert (shown["text"]["type"], shown["text"]["text"]) == ("plain_text", notice["text"])
    assert USER_ID not in str(notice) and "coffee" not in str(notice)


async def test_the_same_failure_is_told_again_after_ten_minutes_with_the_count_held_back(
    slack: SlackWorkspace, staff_channel: Dispatcher, database: Database, clock: Clock
) -> None:
    await lose_the_conversations_table(database)
    for _ in range(3):
        await a_message_fails(slack, staff_channel)
    assert len(notices(slack)) == 1
    clock.advance(minutes=10)
    await a_message_fails(slack, staff_channel)
    assert notices(slack)[1]["text"].endswith("And 2 more like it since.")


async def test_work_after_the_acknowledgement_that_fails_is_told_in_the_staff_channel(
    slack: SlackWorkspace, staff_channel: Dispatcher, database: Database
) -> None:
    await lose_the_conversations_table(database)
    assert (await slack.post(event_callback(app_home_opened()))).status_code == 200
    await slack.idle()
    await staff_channel.run_once()
    [notice] = notices(slack)
    assert re.fullmatch(NOTICE.format(kind="request, after its acknowledgement"), notice["text"])


async def test_a_reply_that_slack_refuses_after_the_acknowledgement_is_told_once_without_the_words(
    slack: SlackWorkspace, staff_channel: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.fail("chat.postMessage", "fatal_error")  # answered in the lazy listener, after the ack
    assert (await slack.post(event_callback(message_im(SECRET_WORDS)))).status_code == 200
    await slack.idle()
    await staff_channel.run_once()
    [notice] = notices(slack)
    assert re.fullmatch(NOTICE.format(kind="request, after its acknowledgement"), notice["text"])
    assert USER_ID not in str(notice) and "coffee" not in str(notice)
    assert "slack chat.postMessage failed: fatal_error" in caplog.text
    assert not any("coffee" in record.getMessage() for record in bot_lines(caplog, logging.INFO))


async def test_buttons_that_cannot_be_replaced_are_told_to_staff_and_the_next_question_still_comes(
    slack: SlackWorkspace, staff_channel: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    question = await start_from_home(slack, "csat")
    slack.fake.fail("chat.update", "fatal_error")
    await press(slack, question, "2")
    await slack.idle()
    await staff_channel.run_once()
    [follow_up] = [message for message in slack.fake.messages(USER_ID) if message.get("thread_ts")]
    assert "What went wrong?" in follow_up["text"]
    [notice] = notices(slack)
    assert re.fullmatch(NOTICE.format(kind="request, after its acknowledgement"), notice["text"])
    assert "in show_choice" in notice["text"]
    [line] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert line.getMessage() == "slack chat.update failed: fatal_error"
