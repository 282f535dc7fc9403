"""Pulses end to end, on the real Slack and Telegram channels against the loopback fakes: at its time a pulse's
survey reaches every member of a Slack channel and of a user group in their DM, and a Telegram segment in their
chats; the outbox's dispatcher sends it as it sends every invitation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.config import PulseSettings
from bot.engine import Engine
from bot.invitations import InvitationRequest, ToPlatformUser
from bot.outbox import Dispatcher
from bot.pulses import Pulses
from bot.surveys import Survey
from handlers.registry import settings_model
from handlers.runner import running_channels
from handlers.slack.channel import SlackChannel
from handlers.slack.settings import SlackSettings
from handlers.telegram.channel import TelegramChannel
from handlers.telegram.settings import TelegramSettings
from storage import queries, schedule
from storage.db import Database
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

DUE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
DEPARTMENT = ["U0ALICE", "U0BOB", "U0CAROL"]  # the members of the Slack channel C0DEPT
LEADS = ["U0DAVE", "U0ALICE"]  # the user group S0LEADS: Alice is in both, and gets one survey
PRO, FREE = 714862471, 714862472  # Telegram customers who started the bot, with their plan from a link


@dataclass
class Running:
    core: Core
    slack: SlackChannel
    dispatcher: Dispatcher

    def pulses(self, *configured: PulseSettings) -> Pulses:
        """The pulses as `feedbackbot run` starts them: Slack lists its groups' members."""
        core = self.core
        return Pulses(core.database, core.invitations, configured, {"slack": self.slack}, core.engine.clock)

    async def dispatch_all(self) -> int:
        sent = 0
        while sent_now := await self.dispatcher.run_once():
            sent += sent_now
        return sent


@pytest.fixture
async def running(
    database: Database,
    surveys: dict[str, Survey],
    engine: Engine,
    desk: CaseDesk,
    fake_slack: FakeSlack,
    fake_telegram: FakeTelegram,
) -> AsyncIterator[Running]:
    """Telegram (polling the fake) and Slack running on one core, with the outbox's dispatcher."""
    telegram = {"token": fake_telegram.token, "api_base_url": fake_telegram.base_url, "request_timeout": 1}
    slack = {"bot_token": fake_slack.token, "signing_secret": "signing-secret", "api_base_url": fake_slack.base_url}
    sections: dict[str, Any] = {"telegram": telegram | {"max_messages_per_second": 1000}, "slack": slack}
    settings = settings_model().model_validate(sections)
    core = Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk))
    telegram_channel = TelegramChannel(core, TelegramSettings.model_validate(sections["telegram"]))
    slack_channel = SlackChannel(core, SlackSettings.model_validate(sections["slack"]))
    await telegram_channel.start()
    await slack_channel.start()
    senders = {"telegram": telegram_channel.send, "slack": slack_channel.send}
    yield Running(core, slack_channel, Dispatcher(database, senders, clock=engine.clock))
    await slack_channel.stop()
    await telegram_channel.stop()


def weekly(*recipients: dict[str, Any], survey: str = "internal-service") -> PulseSettings:
    return PulseSettings.model_validate(
        {
            "name": "weekly",
            "survey": survey,
            "cron": "0 9 * * MON",
            "timezone": "Europe/Berlin",
            "recipients": list(recipients),
        }
    )


async def run_at_its_time(running: Running, pulse: PulseSettings, clock: Clock) -> None:
    clock.now = DUE - timedelta(minutes=1)
    await running.pulses(pulse).step()  # the bot started before the pulse's time
    clock.now = DUE
    await running.pulses(pulse).step()


async def test_each_member_of_a_slack_channel_and_a_user_group_gets_the_pulse_in_their_dm_once(
    running: Running, fake_slack: FakeSlack, clock: Clock
) -> None:
    for user in {*DEPARTMENT, *LEADS}:
        fake_slack.add_user(user)
    fake_slack.add_channel("C0DEPT", "dept", members=DEPARTMENT)
    fake_slack.add_usergroup("S0LEADS", LEADS)
    pulse = weekly({"channel": "slack", "members_of": "C0DEPT"}, {"channel": "slack", "members_of": "S0LEADS"})
    await run_at_its_time(running, pulse, clock)
    assert await running.dispatch_all() == 4
    for user in ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]:
        [question] = fake_slack.messages(user)
        assert question["text"].startswith("Which service are you rating?")
        assert any(block["type"] == "actions" for block in question["blocks"])  # its buttons
    clock.advance(minutes=1)
    await running.pulses(pulse).step()  # the next round, or another process: nothing more
    assert await running.dispatch_all() == 0


async def test_a_telegram_segment_gets_the_pulse_in_their_chats(
    running: Running, database: Database, fake_telegram: FakeTelegram, clock: Clock
) -> None:
    async with database.transaction() as session:
        for customer in (PRO, FREE):
            await queries.get_or_create_person(session, channel="telegram", platform_id=str(customer), language="en")
    for customer, plan in ((PRO, "pro"), (FREE, "free")):  # as a link with the customer's plan records it
        request = InvitationRequest("nps", ToPlatformUser("telegram", str(customer)), None, {"plan": plan})
        await running.core.invitations.invite(request, api_key="shop", idempotency_key=None)
    assert await running.dispatch_all() == 2
    pulse = weekly({"channel": "telegram", "segment": {"plan": "pro"}}, survey="csat")
    await run_at_its_time(running, pulse, clock)
    assert await running.dispatch_all() == 1
    question = fake_telegram.last_bot_message(PRO)
    assert "Two quick questions about your experience.\n\nHow satisfied are you" in question["text"]
    assert "Two quick questions" not in fake_telegram.last_bot_message(FREE)["text"]


async def test_the_running_bot_plans_its_pulses_when_it_starts(
    database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk, clock: Clock
) -> None:
    pulse = weekly({"channel": "slack", "users": ["U0ALICE"]})
    settings = settings_model().model_validate({"pulses": [pulse.model_dump()]})
    core = Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk))
    clock.now = DUE - timedelta(days=2)
    async with running_channels(core, registry=()):
        jobs = await planned_jobs(database)
    assert jobs == {"pulse:weekly": schedule.JobTimes(due_at=DUE, last_run_at=None)}


async def planned_jobs(database: Database) -> dict[str, schedule.JobTimes]:
    """The pulse's schedule row, once the loop of pulses has written it."""
    async with asyncio.timeout(10):
        while True:
            async with database.snapshot() as session:
                if jobs := await schedule.jobs_named(session, names=["pulse:weekly"]):
                    return jobs
            await asyncio.sleep(0.02)
