"""Shared fixtures: real databases (SQLite and the PostgreSQL server `make test` starts), surveys, the engine."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlmodel import SQLModel

from bot.cases import CaseDesk
from bot.engine import Engine
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import Survey, load_surveys
from storage.db import Database
from storage.migrate import upgrade

pytest_plugins = ["tests.fakes.telegram_api", "tests.fakes.slack_api"]
os.environ["PTB_TIMEDELTA"] = "true"  # as the bot sets it: RetryAfter carries a timedelta, without warnings
ROOT = Path(__file__).resolve().parents[1]
FEEDBACKBOT = str(Path(sys.executable).parent / "feedbackbot")  # the console script of this venv
POSTGRES_URL_VARIABLE = "FEEDBACKBOT_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.fail(f"{POSTGRES_URL_VARIABLE} is not set: run the tests with `make test`, which starts PostgreSQL")
    return url


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(postgres_url().replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_aside(work: Coroutine[Any, Any, None]) -> None:
    """Runs set-up coroutines on their own loop in a thread, away from the loop of the test."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


async def migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test copies it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_aside(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    name = f"template_{uuid.uuid4().hex[:8]}"
    run_aside(postgres_admin(f"CREATE DATABASE {name}"))
    run_aside(migrate(with_database(postgres_url(), name)))
    yield name
    run_aside(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "feedback.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"test_{uuid.uuid4().hex[:12]}"
    run_aside(postgres_admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield with_database(postgres_url(), name)
    run_aside(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


@pytest.fixture(scope="session")
def surveys() -> dict[str, Survey]:
    return load_surveys(ROOT / "surveys")


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk() -> CaseDesk:
    """Where the engine's cases alert staff: nowhere, unless a test module overrides this fixture."""
    return CaseDesk()


@pytest.fixture
def engine(database: Database, surveys: dict[str, Survey], clock: Clock, desk: CaseDesk) -> Engine:
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    return Engine(database=database, surveys=surveys, analyzer=analyzer, hash_key=b"test-key", desk=desk, clock=clock)


async def database_dump(database: Database) -> str:
    """Every value of every table, as text: what a privacy test searches for personal data."""
    async with database.engine.connect() as connection:
        rows = [
            repr(tuple(row))
            for table in SQLModel.metadata.sorted_tables
            for row in (await connection.execute(table.select())).all()
        ]
    return "\n".join(rows)
