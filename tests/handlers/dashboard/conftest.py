"""The dashboard served by the bot's one app, on a core with one dashboard user, called in process; customers answer
through the engine as a channel would make them."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.surveys import Survey
from handlers.dashboard.app import build_dashboard
from handlers.registry import settings_model
from handlers.web import create_app
from storage.db import Database
from tests.bot.customer import Customer

USER, PASSWORD = "ana", "dashboard-password-0123"
LOGIN = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
RUDE = "The courier was rude and the parcel late"  # scored negative: a complaint


@pytest.fixture
def core(database: Database, surveys: dict[str, Survey], engine: Engine, desk: CaseDesk) -> Core:
    settings = settings_model().model_validate({"dashboard": {"users": {USER: PASSWORD}}})
    cases = Cases(database, desk, engine.clock)
    return Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=cases)


@pytest.fixture
async def client(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the bot's HTTP app with the dashboard mounted, as `feedbackbot run` serves it; not logged in."""
    app = create_app(core.database, dashboard=build_dashboard(core))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        yield client


async def answer_csat(engine: Engine, user: str, channel: str, score: int, words: str | None = None) -> None:
    """A customer takes the csat survey: a score, then their words or a skip."""
    customer = Customer(engine, user_id=user, channel=channel)
    await customer.start("csat")
    await customer.say(str(score))
    await customer.say(words or "skip")


class _Rows(HTMLParser):
    """The cells of each row of a table, by the row's `data-KEY` attribute."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = f"data-{key}"
        self.rows: dict[str, list[str]] = {}
        self.row: list[str] | None = None  # the cells of the row being read
        self.cell: str | None = None  # the text of the cell being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs).get(self.key)
        if tag == "tr" and named is not None:
            self.row = self.rows[named] = []  # the page's only row with this key, as the tests read them
        elif tag == "td" and self.row is not None:
            self.cell = ""

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.row is not None and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr":
            self.row = None


def rows_of(page: str, key: str) -> dict[str, list[str]]:
    """The text of each row's cells, by the row's `data-KEY` (a group of the report, a case number)."""
    parser = _Rows(key)
    parser.feed(page)
    return parser.rows
