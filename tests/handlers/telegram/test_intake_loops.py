"""Telegram intake keeps going: a 429 on getUpdates is waited out, a bad stored update is passed over, and a loop
that stops all the same turns /healthz to 503."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import insert

from handlers.telegram.channel import TelegramChannel
from handlers.web import create_app
from storage.db import Database
from storage.models import InboxUpdate
from storage.types import utcnow
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import Chat, MakeChannel, wait_until

QUESTION = "How satisfied are you with our service?"


class Fatal(BaseException):
    """An error no loop catches (as none catches a library's SystemExit): the loop stops."""


class UnpluggedBot:
    async def get_updates(self, **_: object) -> None:
        raise Fatal


async def test_polling_waits_out_a_429_and_goes_on(
    make_channel: MakeChannel, fake_telegram: FakeTelegram, chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    fake_telegram.fail("getUpdates", status=429, retry_after=1)
    await make_channel()
    await chat.command("start", "csat")
    assert QUESTION in chat.last()["text"]
    assert "telegram asks the bot to wait 1 s before polling again" in caplog.messages


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL never stored a text id
async def test_polling_passes_over_an_update_id_that_an_older_version_stored_unchecked(
    make_channel: MakeChannel, database: Database, fake_telegram: FakeTelegram, chat: Chat
) -> None:
    payload = {"update_id": "zzz", **fake_telegram.build.command(714862471, "start", "csat")}
    async with database.transaction() as session:
        await session.exec(
            insert(InboxUpdate).values(
                channel="telegram", update_id="zzz", payload=json.dumps(payload), received_at=utcnow()
            )
        )
    await make_channel()
    await chat.command("start", "csat")
    assert QUESTION in chat.last()["text"]


async def test_health_names_a_loop_that_stopped(
    polling: TelegramChannel,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(polling.inbox, "bot", UnpluggedBot())
    api = create_app(database, loops=polling.loops)

    async def health() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
            return await client.get("/healthz")

    async def polling_stopped() -> bool:
        return (await health()).status_code == 503

    await wait_until(polling_stopped)
    response = await health()
    assert response.json() == {"status": "unavailable", "database": "ok", "stopped_loops": ["telegram polling"]}
    assert [record.levelname for record in caplog.records if "stopped" in record.getMessage()] == ["CRITICAL"]
