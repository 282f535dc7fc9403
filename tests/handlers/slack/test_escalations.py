"""Escalations on Slack go where [slack] escalation_channel says and mention [slack] escalation_mention; the other
channels' staff see the escalation without Slack's markup."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.app import staff_destinations
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.outbox import Dispatcher
from handlers.registry import settings_model
from storage.db import Database
from storage.models import OutboxMessage
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

STAFF_CHANNEL = "CSTAFF01"
ESCALATIONS = "CESCALATE"
MENTION = "<!subteam^S0123>"
SECTIONS = {
    "slack": {
        "bot_token": "xoxb-1",
        "signing_secret": "s",
        "staff_channel": STAFF_CHANNEL,
        "escalation_channel": ESCALATIONS,
        "escalation_mention": MENTION,
    },
    "telegram": {"token": "1:abc", "staff_chat_id": -100123},
}
ESCALATED = "Case #1 escalated: not acknowledged in time"


@pytest.fixture
def desk() -> CaseDesk:
    """Staff hear of cases where the operator's [slack] and [telegram] sections say."""
    return CaseDesk(destinations=staff_destinations(settings_model().model_validate(SECTIONS)))


async def test_an_overdue_case_is_escalated_in_the_escalation_channel_with_the_mention(
    slack: SlackWorkspace, engine: Engine, database: Database, desk: CaseDesk, clock: Clock
) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    slack.fake.add_channel(ESCALATIONS, "escalations", members=[STAFF])
    outbox = Dispatcher(database, {"slack": slack.channel.send}, clock=clock)
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("2")  # a low score: a normal priority, to be acknowledged within 4 hours
    await customer.say("The parcel arrived late")
    await outbox.run_once()
    clock.advance(hours=4, minutes=1)
    assert await Cases(database, desk, clock).escalate_overdue() == 1
    await outbox.run_once()
    [escalation] = slack.fake.messages(ESCALATIONS)
    assert escalation["text"] == f"{MENTION} {ESCALATED}"
    async with database.snapshot() as session:
        rows = await session.exec(select(OutboxMessage).where(OutboxMessage.channel == "telegram"))
        telegram_lines = [json.loads(row.payload).get("line") for row in rows if row.kind == "case_escalation"]
    assert telegram_lines == [ESCALATED]  # the Telegram staff chat gets no Slack markup
