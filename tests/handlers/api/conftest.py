"""The HTTP API served by the bot's one app, on a core with two API keys and the Telegram and Slack channels
configured against the loopback fakes, called in process; the outbox is dispatched when a test says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.outbox import Dispatcher
from bot.surveys import Survey
from handlers.api.app import build_api
from handlers.registry import settings_model
from handlers.slack.channel import SlackChannel
from handlers.slack.settings import SlackSettings
from handlers.telegram.channel import TelegramChannel
from handlers.telegram.settings import TelegramSettings
from handlers.web import create_app
from storage import queries
from storage.db import Database
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

KEYS = {"crm": "crm-secret-0123456789", "shop": "shop-secret-0123456789"}
CRM = {"Authorization": f"Bearer {KEYS['crm']}"}
SHOP = {"Authorization": f"Bearer {KEYS['shop']}"}
CUSTOMER = 714862471  # a Telegram user who started the bot
EMPLOYEE = "U0EMPLOYEE"  # a Slack member the bot never talked to


@pytest.fixture
def sections(fake_telegram: FakeTelegram, fake_slack: FakeSlack) -> dict[str, dict[str, Any]]:
    fake_slack.add_user(EMPLOYEE, "employee")
    telegram = {"token": fake_telegram.token, "api_base_url": fake_telegram.base_url, "request_timeout": 1}
    slack = {"bot_token": fake_slack.token, "signing_secret": "signing-secret", "api_base_url": fake_slack.base_url}
    return {"telegram": telegram | {"max_messages_per_second": 1000}, "slack": slack}


@pytest.fixture
def core(
    database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk, sections: dict[str, Any]
) -> Core:
    settings = settings_model().model_validate({"api": {"keys": KEYS}, **sections})
    cases = Cases(database, desk, engine.clock)
    return Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=cases)


@pytest.fixture
async def client(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the bot's HTTP app with the API mounted, as `feedbackbot run` serves it."""
    app = create_app(core.database, api=build_api(core))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        yield client


@dataclass
class Channels:
    telegram: TelegramChannel
    slack: SlackChannel
    dispatcher: Dispatcher


@pytest.fixture
async def channels(core: Core, sections: dict[str, Any]) -> AsyncIterator[Channels]:
    """Telegram (polling the fake) and Slack running on the core, and the outbox's dispatcher sending through them."""
    telegram = TelegramChannel(core, TelegramSettings.model_validate(sections["telegram"]))
    slack = SlackChannel(core, SlackSettings.model_validate(sections["slack"]))
    await telegram.start()
    await slack.start()
    senders = {"telegram": telegram.send, "slack": slack.send}
    yield Channels(telegram, slack, Dispatcher(core.database, senders, clock=core.engine.clock))
    await slack.stop()
    await telegram.stop()


async def known_person(database: Database, channel: str = "telegram", platform_id: str = str(CUSTOMER)) -> int:
    """A person the bot knows (they started it), with their id."""
    async with database.transaction() as session:
        person = await queries.get_or_create_person(session, channel=channel, platform_id=platform_id, language="en")
        await session.flush()
    assert person.id is not None
    return person.id
