"""A complaint from a Telegram customer, worked on by staff in Slack, closed with the customer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import col, select

from bot.app import Core
from bot.cases import CaseDesk, Cases, StaffDestination
from bot.config import Settings
from bot.engine import Engine
from bot.outbox import Dispatcher
from bot.surveys import Survey
from handlers.slack.cases import RESOLVE_FORM
from handlers.slack.channel import SlackChannel
from handlers.slack.settings import SlackSettings
from handlers.telegram.channel import TelegramChannel
from handlers.telegram.settings import TelegramSettings
from handlers.web import create_app
from storage.db import Database
from storage.models import CaseEvent, Complaint, OutboxMessage
from tests.conftest import Clock, database_dump
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import (
    SIGNING_SECRET,
    USER_ID,
    Inbound,
    app_home_opened,
    block_actions,
    event_callback,
    text_value,
    view_submission,
)
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.slack.conftest import STAFF, SlackWorkspace
from tests.handlers.telegram.conftest import CUSTOMER, Chat, outbox_settled, wait_until

STAFF_CHANNEL = "CSTAFF"


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination(STAFF_CHANNEL)})


@pytest.fixture
async def both(
    fake_telegram: FakeTelegram,
    fake_slack: FakeSlack,
    database: Database,
    surveys: dict[str, Survey],
    engine: Engine,
    clock: Clock,
    desk: CaseDesk,
) -> AsyncIterator[tuple[SlackWorkspace, Cases]]:
    """The bot with both channels, one database and one dispatcher, as `feedbackbot run` has them."""
    fake_slack.add_user(STAFF, "staff-member")
    fake_slack.add_channel(STAFF_CHANNEL, "complaints", members=[STAFF])
    telegram_settings = TelegramSettings(
        token=fake_telegram.token, api_base_url=fake_telegram.base_url, request_timeout=1
    )
    slack_settings = SlackSettings(
        bot_token=fake_slack.token,
        signing_secret=SIGNING_SECRET,
        api_base_url=fake_slack.base_url,
        staff_channel=STAFF_CHANNEL,
    )
    cases = Cases(database, desk, clock)
    core = Core(settings=Settings(), database=database, surveys=surveys, engine=engine, cases=cases)
    telegram, slack = TelegramChannel(core, telegram_settings), SlackChannel(core, slack_settings)
    telegram.inbox.flush_seconds = 0.01
    api = create_app(database, routes=slack.routes())
    await telegram.start()
    senders = {channel.name: channel.send for channel in (telegram, slack)}
    dispatcher = asyncio.create_task(Dispatcher(database, senders, clock=clock).run_forever(interval=0.02))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        yield SlackWorkspace(fake_slack, client, slack), cases
    dispatcher.cancel()
    await slack.stop()
    await telegram.stop()


def staff_messages(fake: FakeSlack) -> list[dict[str, Any]]:
    return fake.messages(STAFF_CHANNEL)


def has_button(message: dict[str, Any], action_id: str) -> bool:
    return any(e.get("action_id") == action_id for b in message.get("blocks", []) for e in b.get("elements", []))


async def resolve_in_slack(slack: SlackWorkspace, action: str) -> None:
    case_message = staff_messages(slack.fake)[0]
    await slack.post(block_actions("case_resolve", "1", user_id=STAFF, channel_id=STAFF_CHANNEL, message=case_message))
    await slack.settle(lambda: slack.fake.calls_of("views.open"))
    option = {"value": "supplier", "text": {"type": "plain_text", "text": "supplier"}}
    values = {
        "corrective_action": {"value": text_value(action)},
        "root_cause": {"value": {"type": "static_select", "selected_option": option}},
        "customer_message": {"value": text_value("Sorry for the trouble.")},
    }
    response = await slack.post(view_submission(RESOLVE_FORM, values, private_metadata="1", user_id=STAFF))
    assert response.status_code == 200 and response.content in (b"", b"null")


async def answer_outcome(chat: Chat, fake: FakeTelegram, answer: str) -> None:
    outcome = await fake.wait_for(lambda: [m for m in fake.chat_messages(CUSTOMER) if "o1|1|yes" in str(m)])
    await chat.press(f"o1|1|{answer}", outcome[-1])


@pytest.mark.every_database
async def test_a_telegram_complaint_is_worked_in_slack_and_closed_with_the_customer(
    both: tuple[SlackWorkspace, Cases], chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    slack, _ = both
    await chat.command("start", "csat-ORDER-7")
    await chat.press("a1|1|satisfaction|1")
    await chat.say("The parcel came two weeks late and the courier was rude")

    # The score opens the case; the alert shows the comment, whether it was sent after it or updated in place.
    alert, *thread = await slack.settle(
        lambda: [m for m in staff_messages(slack.fake) if "two weeks late" in m["text"]] and staff_messages(slack.fake)
    )
    assert has_button(alert, "case_acknowledge") and has_button(alert, "case_resolve")
    assert "reference ORDER-7" in alert["text"] and "two weeks late" in alert["text"]
    assert [m["text"] for m in thread] in ([], ["the customer added a comment"])

    await slack.post(block_actions("case_acknowledge", "1", user_id=STAFF, channel_id=STAFF_CHANNEL, message=alert))
    await slack.settle(lambda: not has_button(staff_messages(slack.fake)[0], "case_acknowledge"))

    await resolve_in_slack(slack, "Refunded the delivery fee and warned the courier company")
    await answer_outcome(chat, fake_telegram, "no")
    assert fake_telegram.sent_messages(CUSTOMER)[-1].startswith("We're sorry it isn't resolved yet.")
    await slack.settle(
        lambda: any("escalated: reopened by the customer" in m["text"] for m in staff_messages(slack.fake))
    )

    await resolve_in_slack(slack, "Sent a new parcel by express")
    await answer_outcome(chat, fake_telegram, "yes")
    assert fake_telegram.sent_messages(CUSTOMER)[-1] == "Thank you! Your complaint #1 is closed."

    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
        trail = [(e.actor, e.action) for e in await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))]
    assert (case.status, case.corrective_action, case.root_cause) == (
        "closed",
        "Sent a new parcel by express",
        "supplier",
    )
    assert trail == [
        ("system", "opened"),
        ("customer", "answered"),
        (STAFF, "acknowledged"),
        (STAFF, "resolved"),
        ("customer", "reopened"),
        ("system", "escalated"),
        (STAFF, "resolved"),
        ("customer", "closed"),
    ]
    outcome = [m["text"] for m in fake_telegram.chat_messages(CUSTOMER) if "What we did" in m.get("text", "")]
    assert outcome[0].startswith("About your complaint #1: you told us “The parcel came two weeks late")


async def test_someone_who_is_not_staff_changes_nothing(
    both: tuple[SlackWorkspace, Cases],
    chat: Chat,
    fake_slack: FakeSlack,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Staff are the staff channel's members; a press from anyone else (a forged request) is refused and logged."""
    slack, _ = both
    fake_slack.add_channel("CPUBLIC", "general", members=[USER_ID])
    await chat.command("complain", "Charged twice")
    [alert] = await slack.settle(lambda: staff_messages(slack.fake))
    await slack.post(block_actions("case_resolve", "1", user_id=USER_ID, channel_id="CPUBLIC", message=alert))
    await slack.post(block_actions("case_acknowledge", "1", user_id=USER_ID, channel_id="CPUBLIC", message=alert))
    refusals = await slack.settle(lambda: len(slack.fake.ephemeral) == 2 and slack.fake.ephemeral)
    assert {message["text"] for _, _, message in refusals} == {"Only staff can act on complaint cases."}
    assert "pressed by someone who is not staff; refused" in caplog.text
    assert slack.fake.calls_of("views.open") == []
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
        trail = list(await session.exec(select(CaseEvent.action)))
    assert (case.status, trail) == ("new", ["opened"])


async def test_staff_contact_the_customer_and_the_reply_reaches_the_case_thread(
    both: tuple[SlackWorkspace, Cases], chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    slack, _ = both
    await chat.command("complain", "My refund never arrived")
    [alert] = await slack.settle(lambda: staff_messages(slack.fake))
    assert has_button(alert, "case_contact")
    await slack.post(block_actions("case_contact", "1", user_id=STAFF, channel_id=STAFF_CHANNEL, message=alert))
    await slack.settle(lambda: slack.fake.calls_of("views.open"))
    values = {"customer_message": {"value": text_value("Which account did you pay from?")}}
    response = await slack.post(view_submission("case_contact_form", values, private_metadata="1", user_id=STAFF))
    assert response.status_code == 200
    await fake_telegram.wait_for(lambda: "Which account did you pay from?" in fake_telegram.sent_messages(CUSTOMER)[-1])
    assert fake_telegram.sent_messages(CUSTOMER)[-1].startswith("Message from our team about your complaint #1:")
    await chat.say("The one ending in 42")
    thread = await slack.settle(
        lambda: [m for m in staff_messages(slack.fake) if m["text"] == "the customer replied: The one ending in 42"]
    )
    assert thread[0]["thread_ts"] == alert["ts"]


async def outbox_attempts_reach(database: Database, attempts: int) -> bool:
    async with database.snapshot() as session:
        return sum(row.attempts for row in await session.exec(select(OutboxMessage))) == attempts


async def test_slack_failing_for_a_while_gets_the_alert_exactly_once(
    both: tuple[SlackWorkspace, Cases], chat: Chat, fake_slack: FakeSlack, clock: Clock, database: Database
) -> None:
    slack, _ = both
    fake_slack.fail("chat.postMessage", "fatal_error", times=3)  # Slack's own trouble, answered with ok: false
    await chat.command("complain", "Nobody answers the phone")
    for failed in range(1, 4):
        await wait_until(partial(outbox_attempts_reach, database, failed))
        clock.advance(minutes=10)  # past the dispatcher's backoff
    [alert] = await slack.settle(lambda: staff_messages(slack.fake))
    assert alert["text"].startswith("New complaint #1 (explicit")
    await asyncio.sleep(0.2)  # the dispatcher keeps running: nothing more arrives
    assert len(staff_messages(slack.fake)) == 1


async def test_an_anonymous_employee_hears_the_outcome_through_the_bot_alone(
    both: tuple[SlackWorkspace, Cases], fake_slack: FakeSlack, database: Database
) -> None:
    slack, _ = both
    option = {
        "type": "static_select",
        "selected_option": {"value": "facilities", "text": {"type": "plain_text", "text": "x"}},
    }
    score = {"type": "static_select", "selected_option": {"value": "1", "text": {"type": "plain_text", "text": "1"}}}
    anonymous = {
        "type": "checkboxes",
        "selected_options": [{"value": "anonymous", "text": {"type": "plain_text", "text": "a"}}],
    }
    values = {
        "service": {"value": option},
        "quality": {"value": score},
        "speed": {"value": score},
        "comment": {"value": text_value("The heating has been off for a week")},
        "anonymous": {"value": anonymous},
    }
    await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    [alert] = await slack.settle(lambda: staff_messages(slack.fake))
    assert "from an anonymous respondent" in alert["text"] and not has_button(alert, "case_contact")
    await resolve_in_slack(slack, "Repaired the boiler")

    await slack.post(event_callback(app_home_opened()))
    home = await slack.settle(lambda: USER_ID in fake_slack.homes and fake_slack.published_home(USER_ID))
    assert any("What we did: Repaired the boiler" in b.get("text", {}).get("text", "") for b in home["blocks"])
    await slack.post(on_app_home(block_actions("case_outcome_yes", "1", user_id=USER_ID)))
    await slack.settle(
        lambda: any(m["text"] == "Thank you! Your complaint #1 is closed." for m in fake_slack.messages(USER_ID))
    )
    async with database.snapshot() as session:
        [case] = await session.exec(select(Complaint))
    assert (case.status, case.person_id) == ("closed", None)
    dump = await database_dump(database)
    assert "The heating has been off" in dump and USER_ID not in dump


def on_app_home(inbound: Inbound) -> Inbound:
    """The same press made on App Home: Slack then names a view, not a message or a channel."""
    payload = inbound.payload | {"container": {"type": "view", "view_id": "VHOME"}}
    payload.pop("channel", None)
    payload.pop("message", None)
    return Inbound(urlencode({"payload": json.dumps(payload)}), inbound.content_type)


async def test_a_staff_form_slack_delivers_twice_is_applied_once(
    both: tuple[SlackWorkspace, Cases], chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    slack, _ = both
    await chat.command("complain", "My refund never arrived")
    await slack.settle(lambda: staff_messages(slack.fake))
    values = {"customer_message": {"value": text_value("Which account did you pay from?")}}
    submission = view_submission("case_contact_form", values, private_metadata="1", user_id=STAFF)
    for retry in (0, 1):
        assert (await slack.post(submission, retry=retry)).status_code == 200
    await outbox_settled(database)
    sent = [text for text in fake_telegram.sent_messages(CUSTOMER) if "Which account did you pay from?" in text]
    assert len(sent) == 1
    async with database.snapshot() as session:
        trail = list(await session.exec(select(CaseEvent.action).order_by(col(CaseEvent.id))))
    assert trail == ["opened", "contacted"]
