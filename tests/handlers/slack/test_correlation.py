"""Slack requests carry a correlation id through to the outbox messages they queue and the lines of those sends."""

from __future__ import annotations

import logging
import re
import time

import pytest
from sqlmodel import col, select

from bot.cases import CaseDesk, StaffDestination
from bot.outbox import Dispatcher
from storage.db import Database
from storage.models import OutboxMessage
from tests.fakes.slack_signing import USER_ID, event_callback, message_im
from tests.handlers.slack.conftest import STAFF, SlackWorkspace, press, start_from_home

STAFF_CHANNEL = "C0STAFF01"


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination(STAFF_CHANNEL)})


def lines_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[tuple[str, str | None]]:
    return [
        (record.getMessage(), getattr(record, "correlation_id", None))
        for record in caplog.records
        if record.name == logger
    ]


async def test_each_request_s_id_follows_it_to_the_case_messages_it_queued_and_their_sends(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, correlated_records: None
) -> None:
    caplog.set_level(logging.INFO)
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    question = await start_from_home(slack, "csat")
    await press(slack, question, "2")  # a low score: a case, and its staff alert queued
    await slack.settle(lambda: [m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")])
    comment = message_im("The printer queue lost my invoices", ts=f"{time.time():.6f}") | {"thread_ts": question["ts"]}
    assert (await slack.post(event_callback(comment, event_id="Ev0CORRELATE"))).status_code == 200  # added to it
    await slack.idle()
    async with database.snapshot() as session:
        queued = list(
            await session.exec(select(OutboxMessage.kind, OutboxMessage.correlation_id).order_by(col(OutboxMessage.id)))
        )
    [(_, pressed), update] = queued
    assert re.fullmatch(r"slack-[0-9a-f]{8}", pressed or "")  # an interaction has no id of Slack's that names nobody
    assert update == ("case_update", "slack-Ev0CORRELATE")
    assert ("complaint 1 opened (low_score) on slack", pressed) in lines_of(caplog, "bot.engine")

    assert await Dispatcher(database, {"slack": slack.channel.send}).run_once() == 2
    assert lines_of(caplog, "bot.outbox") == [
        ("outbox: slack case_alert message 1 sent", pressed),
        ("outbox: slack case_update message 2 sent", "slack-Ev0CORRELATE"),
    ]
