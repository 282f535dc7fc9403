"""The HTTP API served by the bot's one app, on a core with two API keys, called in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.config import Settings
from bot.engine import Engine
from bot.surveys import Survey
from handlers.api.app import build_api
from handlers.web import create_app
from storage.db import Database

KEYS = {"crm": "crm-secret-0123456789", "shop": "shop-secret-0123456789"}
CRM = {"Authorization": f"Bearer {KEYS['crm']}"}


@pytest.fixture
def core(database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk) -> Core:
    settings = Settings(api={"keys": KEYS})
    cases = Cases(database, desk, engine.clock)
    return Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=cases)


@pytest.fixture
async def client(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the bot's HTTP app with the API mounted, as `feedbackbot run` serves it."""
    app = create_app(core.database, api=build_api(core))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        yield client
