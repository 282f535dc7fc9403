"""A Slack channel on the real slack-bolt stack behind the bot's Starlette app, calling the loopback fake Web API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.config import Settings
from bot.engine import Engine
from bot.surveys import Survey
from handlers.slack.channel import EVENTS_PATH, SlackChannel
from handlers.slack.settings import SlackSettings
from handlers.web import create_app
from storage.db import Database
from tests.conftest import database_dump
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import SIGNING_SECRET, USER_ID, USER_NAME, Inbound, Params, block_actions, text_value

STAFF = "USTAFF01"
DM = f"D{USER_ID}"


class SlackWorkspace:
    """Posts signed requests to the bot as Slack does, and reads what the bot did through the fake Web API."""

    def __init__(self, fake: FakeSlack, client: httpx.AsyncClient, channel: SlackChannel) -> None:
        self.fake = fake
        self.client = client
        self.channel = channel

    async def post(self, inbound: Inbound, **headers: Any) -> httpx.Response:
        return await self.client.post(EVENTS_PATH, content=inbound.body, headers=inbound.headers(**headers))

    async def post_signed(self, body: bytes, content_type: str, timestamp: str | None = None) -> httpx.Response:
        """Any bytes, signed for real (the timestamp header as given, even if it is not a number)."""
        return await self.client.post(EVENTS_PATH, content=body, headers=signed_headers(body, content_type, timestamp))

    async def idle(self) -> None:
        """Waits until the work the bot does after acknowledging is done."""
        if self.channel.services.tasks:
            await asyncio.wait(self.channel.services.tasks, timeout=5)

    async def settle(self, condition: Any, timeout: float = 5) -> Any:  # noqa: ASYNC109
        """Waits for what the bot does after acknowledging."""
        return await self.fake.wait_for(condition, timeout=timeout)


def signed_headers(body: bytes, content_type: str, timestamp: str | None = None) -> dict[str, str]:
    """Slack's v0 signature of raw bytes, with a timestamp header that may be anything."""
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def bot_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    """What the bot logged at `level` or above: the test's own HTTP client lines left out."""
    return [
        record
        for record in caplog.records
        if record.levelno >= level and not record.getMessage().startswith("HTTP Request: POST http://bot/")
    ]


async def post_signed_quietly(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> int:
    """Posts a signed body; asserts it wrote nothing and logged at most one line, with no traceback. Its status."""
    before = await database_dump(database)
    caplog.clear()
    response = await slack.post_signed(body, content_type)
    await slack.idle()
    lines = bot_lines(caplog, logging.INFO)
    assert len(lines) <= 1 and not any(record.exc_info for record in lines)
    assert await database_dump(database) == before
    return response.status_code


def slack_settings(fake: FakeSlack, **slack: Any) -> SlackSettings:
    return SlackSettings.model_validate(
        {
            "bot_token": fake.token,
            "signing_secret": SIGNING_SECRET,
            "api_base_url": fake.base_url,
            "staff_user_ids": [STAFF],
            **slack,
        }
    )


@pytest.fixture
async def slack(
    fake_slack: FakeSlack, database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk
) -> AsyncIterator[SlackWorkspace]:
    fake_slack.add_user(STAFF, "staff-member")
    fake_slack.add_user(USER_ID, USER_NAME, locale="en-US")  # the employee who takes the surveys
    cases = Cases(database, desk, engine.clock)
    core = Core(settings=Settings(), database=database, surveys=surveys, engine=engine, cases=cases)
    channel = SlackChannel(core, slack_settings(fake_slack))
    api = create_app(database, routes=channel.routes())
    await channel.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        yield SlackWorkspace(fake_slack, client, channel)
    await channel.stop()


def select_value(value: str) -> Params:
    return {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}


def form(anonymous: bool, **answers: str) -> dict[str, dict[str, Params]]:
    """The state of a submitted /feedback form: a select per rated question, the comment as text, the anonymous box."""
    values: dict[str, dict[str, Params]] = {
        question: {"value": select_value(value) if question != "comment" else text_value(value)}
        for question, value in answers.items()
    }
    option = {"value": "anonymous", "text": {"type": "plain_text", "text": "Anonymous"}}
    values["anonymous"] = {"value": {"type": "checkboxes", "selected_options": [option] if anonymous else []}}
    return values


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    """The button of a posted message with that label."""
    elements: list[dict[str, Any]] = [element for block in message["blocks"] for element in block.get("elements", [])]
    for element in elements:
        if element.get("type") == "button" and element["text"]["text"] == label:
            return element
    raise AssertionError(f"no button {label}")


async def press(slack: SlackWorkspace, message: dict[str, Any], label: str) -> None:
    """Presses a button of a message in the DM, as the employee does."""
    element = button(message, label)
    inbound = block_actions(element["action_id"], element["value"], channel_id=DM, message=message)
    assert (await slack.post(inbound)).status_code == 200


async def start_from_home(slack: SlackWorkspace, survey_id: str) -> dict[str, Any]:
    """Starts a survey from App Home; its first question, once posted in the DM."""
    before = len(slack.fake.messages(USER_ID))
    assert (await slack.post(block_actions("survey_start_0", survey_id, channel_id=DM))).status_code == 200
    messages: list[dict[str, Any]] = await slack.settle(
        lambda: len(slack.fake.messages(USER_ID)) > before and slack.fake.messages(USER_ID)
    )
    return messages[-1]


__all__ = ["DM", "STAFF", "USER_ID", "SlackWorkspace"]
