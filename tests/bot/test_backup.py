"""`feedbackbot db backup`: a copy of the live SQLite database that restores to a consistent, current database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlmodel import col, select

from bot.engine import Engine
from storage.db import Database
from storage.models import Answer
from tests.bot.customer import Customer
from tests.conftest import FEEDBACKBOT, ROOT


def operator_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    return env | {"FEEDBACKBOT_STORAGE__URL": database_url}


def feedbackbot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEEDBACKBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def keep_answering(engine: Engine, some_answered: asyncio.Event) -> None:
    """Customers taking the survey one after another, each answer committed as the bot commits it."""
    for number in itertools.count():
        customer = Customer(engine, user_id=f"customer-{number}")
        await customer.start("csat")
        await customer.say("4")
        await customer.say(f"Fine, thanks ({number})")
        if number == 10:
            some_answered.set()


async def answer_ids(database: Database) -> set[int]:
    async with database.snapshot() as session:
        return {id_ for id_ in (await session.exec(select(col(Answer.id)))).all() if id_ is not None}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_backup_taken_while_answers_are_written_restores_to_a_current_consistent_database(
    tmp_path: Path, database_url: str, database: Database, engine: Engine
) -> None:
    env = operator_env(tmp_path, database_url)
    some_answered = asyncio.Event()
    writer = asyncio.create_task(keep_answering(engine, some_answered))
    await some_answered.wait()
    committed = await answer_ids(database)
    backup = await asyncio.create_subprocess_exec(
        FEEDBACKBOT, "db", "backup", "backup.db", cwd=tmp_path, env=env, stdout=subprocess.PIPE
    )
    printed, _ = await backup.communicate()
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer

    assert backup.returncode == 0
    live = Path(make_url(database_url).database or "")
    size = (tmp_path / "backup.db").stat().st_size
    assert printed.decode() == f"backup of {live} written to backup.db ({size} bytes)\n"

    restored = tmp_path / "restored" / "feedback.db"
    restored.parent.mkdir()
    shutil.copy(tmp_path / "backup.db", restored)
    with contextlib.closing(sqlite3.connect(restored)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        kept = {row[0] for row in copy.execute("SELECT id FROM answer")}
    assert committed <= kept
    restored_env = env | {"FEEDBACKBOT_STORAGE__URL": f"sqlite+aiosqlite:///{restored}"}
    upgraded = feedbackbot(tmp_path, restored_env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith("database schema is up to date at revision ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_existing_file_is_kept_unless_forced(tmp_path: Path, database_url: str) -> None:
    env = operator_env(tmp_path, database_url)
    (tmp_path / "backup.db").write_text("last night's backup")

    refused = feedbackbot(tmp_path, env, "db", "backup", "backup.db")
    assert (refused.returncode, refused.stderr) == (2, "feedbackbot: backup.db exists; pass --force to overwrite it\n")
    assert (tmp_path / "backup.db").read_text() == "last night's backup"

    forced = feedbackbot(tmp_path, env, "db", "backup", "--force", "backup.db")
    assert forced.returncode == 0, forced.stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "backup.db")) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["backup.db", "feedback.db", "surveys"]


def test_a_postgresql_database_is_one_line_pointing_to_pg_dump(tmp_path: Path) -> None:
    env = operator_env(tmp_path, "postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    refused = feedbackbot(tmp_path, env, "db", "backup", "backup.db")
    assert (refused.returncode, refused.stderr) == (
        2,
        "feedbackbot: [storage] url: db backup copies SQLite files; back up PostgreSQL with pg_dump (see README.md)\n",
    )
    assert not (tmp_path / "backup.db").exists()
