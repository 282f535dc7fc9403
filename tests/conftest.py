"""Shared fixtures: real databases (SQLite and the PostgreSQL server `make test` starts), surveys, the engine."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import coverage
import httpx
import pytest
from alembic import command
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from bot import correlation
from bot.cases import CaseDesk
from bot.engine import Engine
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import Survey, load_surveys
from storage.db import Database
from storage.migrate import alembic_config, upgrade

pytest_plugins = ["tests.fakes.telegram_api", "tests.fakes.slack_api"]
os.environ["PTB_TIMEDELTA"] = "true"  # as the bot sets it: RetryAfter carries a timedelta, without warnings
ROOT = Path(__file__).resolve().parents[1]
FEEDBACKBOT = str(Path(sys.executable).parent / "feedbackbot")  # the console script of this venv
POSTGRES_URL_VARIABLE = "FEEDBACKBOT_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]
T = TypeVar("T")
# The end-to-end tests of the channels drive the storage code that the tests of bot/ and storage/ run on both
# databases, so they run on SQLite alone, but for those marked `every_database`: the ones that test the database,
# processes sharing one, and one end-to-end test per channel. A test may also name its backends with
# `@pytest.mark.parametrize("database_url", [...], indirect=True)`.
SQLITE_ALONE_UNDER = ROOT / "tests" / "handlers"


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.fail(f"{POSTGRES_URL_VARIABLE} is not set: run the tests with `make test`, which starts PostgreSQL")
    return url


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql")


async def postgres_admin(*statements: str) -> None:
    connection = await asyncpg.connect(dsn(postgres_url()))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_to_its_end(
    folder: Path, database_url: str, command: Sequence[str] = (FEEDBACKBOT, "run"), **settings: str
) -> subprocess.CompletedProcess[str]:
    """`command` in `folder` with the shipped surveys, the database at `database_url`, a free port and `settings`
    (FEEDBACKBOT_ variables), none of the developer's own. Its stdin is /dev/null, no terminal: the bot serves HTTP
    until SIGTERM, which it gets once /healthz answers. Its exit status is the caller's to check."""
    port = int(settings.setdefault("FEEDBACKBOT_SERVER__PORT", str(free_port())))
    with bot_process(folder, database_url, command, **settings) as bot:
        if bot.wait_for_health(port) is not None:
            bot.process.send_signal(signal.SIGTERM)
        bot.process.wait(timeout=60)
        return subprocess.CompletedProcess(bot.process.args, bot.process.returncode, "", bot.stderr())


@dataclass
class BotProcess:
    """A bot process started by `bot_process`, its standard error going to a file (so that a chatty process never
    blocks on a full pipe)."""

    process: subprocess.Popen[bytes]
    stderr_file: Path

    def stderr(self) -> str:
        return self.stderr_file.read_text()

    def wait_for_health(self, port: int) -> httpx.Response | None:
        """The first answer of /healthz, or None when the process ended before answering."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return None
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"the HTTP server did not come up: {self.stderr()}")


@contextmanager
def bot_process(folder: Path, database_url: str, command: Sequence[str], **settings: str) -> Iterator[BotProcess]:
    """`command` running in `folder` as `run_to_its_end` starts it, with stdin /dev/null; killed on leaving."""
    (folder / "surveys").symlink_to(ROOT / "surveys")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    env |= {"FEEDBACKBOT_STORAGE__URL": database_url, "FEEDBACKBOT_SERVER__PORT": str(free_port()), **settings}
    stderr_file = folder / "stderr.log"
    with stderr_file.open("wb") as stderr:
        process = subprocess.Popen(
            list(command), cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        yield BotProcess(process, stderr_file)
    finally:
        process.kill()
        process.wait()


@contextmanager
def terminal_stdin() -> Iterator[tuple[int, Callable[[str], None]]]:
    """A pseudo-terminal for a process's stdin, as when an operator types at it: the file descriptor to give the
    process, and a function typing a line. The terminal does not echo, so nothing waits to be read back."""
    typed, terminal = pty.openpty()
    attributes = termios.tcgetattr(terminal)
    attributes[3] &= ~termios.ECHO
    termios.tcsetattr(terminal, termios.TCSANOW, attributes)

    def type_line(line: str) -> None:
        os.write(typed, line.encode() + b"\n")

    try:
        yield terminal, type_line
    finally:
        os.close(typed)
        os.close(terminal)


@contextmanager
def coverage_paused() -> Iterator[None]:
    """The body untraced by coverage, when the run measures it: for a bulk of work that runs again the lines traced
    just before, where the tracer would double its CPU. Only this thread and the threads started after are traced
    again: one running across the pause (a database driver's, say) stays untraced."""
    measuring = coverage.Coverage.current()
    if measuring is None:
        yield
        return
    measuring.stop()
    try:
        yield
    finally:
        measuring.start()


def run_aside(work: Coroutine[Any, Any, T]) -> T:
    """Runs set-up coroutines on their own loop in a thread, away from the loop of the test."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def downgrade(database: Database, revision: str) -> None:
    """Alembic's downgrade of `database` to `revision`, on a connection of its own."""

    def run(connection: Connection) -> None:
        config = alembic_config(database.url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(run)


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
    """A PostgreSQL database migrated once (by each xdist worker); tests get copies (CREATE DATABASE ... TEMPLATE)."""
    name = f"template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    run_aside(postgres_admin(f"CREATE DATABASE {name}"))
    run_aside(migrate(with_database(postgres_url(), name)))
    yield name
    run_aside(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# The schema of a database: what a test may have changed beyond the rows (a renamed table, say).
SCHEMA = """
SELECT string_agg(line, '; ' ORDER BY line) FROM (
    SELECT concat_ws(' ', table_name, column_name, data_type, is_nullable, column_default) AS line
    FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT version_num FROM alembic_version
) AS schema
"""
# The sequences a test drew ids from, set back to their start as in a fresh copy.
RESTART_SEQUENCES = """
SELECT setval(format('%I', sequencename)::regclass, start_value, false)
FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL
"""


@dataclass
class PostgresDatabases:
    """The test databases of one xdist worker. Copying the template takes a few tenths of a second; a database
    whose test left its schema as it was is emptied instead (`emptied`) and handed to the next test."""

    template: str
    schema: str
    idle: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    async def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        name = f"test_{uuid.uuid4().hex[:12]}"
        await postgres_admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        self.made.append(name)
        return name

    async def give_back(self, name: str) -> None:
        await postgres_admin(  # a test may have refused connections or left a killed process's session behind
            f"ALTER DATABASE {name} ALLOW_CONNECTIONS true",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        if await emptied(with_database(postgres_url(), name), self.schema):
            self.idle.append(name)
        else:
            await postgres_admin(f"DROP DATABASE {name} WITH (FORCE)")
            self.made.remove(name)


async def schema_of(url: str) -> str:
    connection = await asyncpg.connect(dsn(url))
    try:
        return str(await connection.fetchval(SCHEMA))
    finally:
        await connection.close()


async def emptied(url: str, schema: str) -> bool:
    """Deletes every row and restarts the ids, as in a fresh copy; False if the schema is not the template's.
    It deletes the rows of the tables that have some rather than truncating every table: TRUNCATE gives each table
    and index new files, about 70 ms of the server's CPU for each test, more than most tests take."""
    connection = await asyncpg.connect(dsn(url), server_settings={"lock_timeout": "10s"})
    try:
        if await connection.fetchval(SCHEMA) != schema:
            return False
        tables = [f'"{table.name}"' for table in reversed(SQLModel.metadata.sorted_tables)]  # referencing first
        written = await connection.fetchval(f"SELECT ARRAY[{', '.join(f'EXISTS (TABLE {t})' for t in tables)}]")
        for table, has_rows in zip(tables, written, strict=True):
            if has_rows:
                await connection.execute(f"DELETE FROM {table}")
        await connection.execute(RESTART_SEQUENCES)
        return True
    except asyncpg.PostgresError:
        return False
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(
        postgres_template, run_aside(schema_of(with_database(postgres_url(), postgres_template)))
    )
    yield databases
    run_aside(postgres_admin(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in databases.made)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: pytest-xdist hands each worker a contiguous share of the tests, and one that takes tens
    of seconds, reached late, would end the run alone on a core while the others sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and not backends_named_by(metafunc.definition):
        metafunc.parametrize("database_url", backends_for(metafunc.definition), indirect=True)


def backends_named_by(test: pytest.Function) -> bool:
    return any("database_url" in argument_names(mark.args[0]) for mark in test.iter_markers("parametrize"))


def argument_names(names: str | Sequence[str]) -> list[str]:
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)


def backends_for(test: pytest.Function) -> list[str]:
    if test.get_closest_marker("every_database") or not test.path.is_relative_to(SQLITE_ALONE_UNDER):
        return BACKENDS
    return ["sqlite"]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database on the backend the test is parametrized with (see `pytest_generate_tests`)."""
    if request.param == "sqlite":
        path = tmp_path / "feedback.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = run_aside(databases.take())
    yield with_database(postgres_url(), name)
    run_aside(databases.give_back(name))


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


@pytest.fixture
def correlated_records() -> Iterator[None]:
    """Log records carry the correlation id, as `feedbackbot` sets logging up; the record factory is put back after."""
    make = logging.getLogRecordFactory()
    correlation.install()
    yield
    logging.setLogRecordFactory(make)
