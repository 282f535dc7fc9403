"""The Slack sender says what became of a case message: sent with its ts, refused, person unreachable, retry later."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.outbound import CaseAlert, CaseContact, Refused, RetryLater, Sent, StaffNotice, Unreachable
from storage.db import Database
from storage.models import Complaint
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

STAFF_CHANNEL = "CSTAFF01"


async def a_case(database: Database) -> int:
    async with database.transaction() as session:
        case = Complaint(channel="slack", reasons="explicit", created_at=datetime(2026, 11, 26, tzinfo=UTC))
        session.add(case)
        await session.flush()
        assert case.id is not None
        return case.id


async def test_an_alert_is_sent_with_its_ts(slack: SlackWorkspace, database: Database) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    result = await slack.channel.send(CaseAlert(case_id=await a_case(database), target=STAFF_CHANNEL))
    [alert] = slack.fake.messages(STAFF_CHANNEL)
    assert result == Sent(reference=alert["ts"])


async def test_a_staff_channel_that_is_gone_refuses_for_good(slack: SlackWorkspace) -> None:
    result = await slack.channel.send(StaffNotice(target="CGONE", text="A handler failed"))
    assert result == Refused("channel_not_found")


async def test_a_person_slack_cannot_reach_is_unreachable(slack: SlackWorkspace, database: Database) -> None:
    contact = CaseContact(case_id=await a_case(database), platform_id="UGONE", message="Which account?")
    assert await slack.channel.send(contact) == Unreachable("channel_not_found")


async def test_slack_rate_limiting_asks_for_the_wait_it_gives(slack: SlackWorkspace) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    # More often than the client's own retries (5): the wait Slack gives is the outbox's now; none, to be quick.
    slack.fake.fail("chat.postMessage", "ratelimited", retry_after=0, times=6)
    result = await slack.channel.send(StaffNotice(target=STAFF_CHANNEL, text="A handler failed"))
    assert result == RetryLater("ratelimited", after=0.0)
