"""A listener or the work after the ack that fails is told in the staff channel: once per error and place in ten
minutes, without personal data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from bot.cases import CaseDesk
from bot.engine import Engine
from bot.outbox import Dispatcher
from handlers import outbox_bridge
from storage.db import Database
from tests.conftest import Clock
from tests.fakes.slack_signing import USER_ID, app_home_opened, event_callback, message_im
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

STAFF_CHANNEL = "CSTAFF01"
SECRET_WORDS = "The coffee machine is broken"
NOTICE = r"A slack handler failed: \w+Error at \w+\.py:\d+ in \w+, while handling a {kind}\. .* has the details\."


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """The shared engine, with the Slack staff channel as where staff hear of cases (and so of errors)."""
    engine.desk = CaseDesk(destinations={"slack": STAFF_CHANNEL})
    return engine


@pytest.fixture
def staff_channel(slack: SlackWorkspace, database: Database, clock: Clock) -> Dispatcher:
    """The staff channel in the workspace, and the outbox that posts there."""
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    return Dispatcher(database, {"slack": outbox_bridge.sender(slack.channel.send)}, clock=clock)


async def lose_the_conversations_table(database: Database) -> None:
    """A fault the database really raises: the table the next query reads is gone."""
    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE conversation RENAME TO conversation_moved"))


async def a_message_fails(slack: SlackWorkspace, staff_channel: Dispatcher) -> None:
    assert (await slack.post(event_callback(message_im(SECRET_WORDS)))).status_code == 500
    await staff_channel.run_once()


def notices(slack: SlackWorkspace) -> list[dict[str, Any]]:
    return slack.fake.messages(STAFF_CHANNEL)


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
