"""Alembic migrations, run from code: `feedbackbot db upgrade` and the tests use the same path.

Every `feedbackbot` command checks that the schema is current, but only `db upgrade` migrates: Alembic (which
brings Mako and Pygments, about a fifth of a process's start) is imported by the functions that migrate, and the
schema's revision and the newest migration's are read without it."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.db import READ_ONLY, Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations") / "versions"
# A migration's `revision: str = "0014"` or `down_revision: str | None = None`, at the start of a line.
ASSIGNMENT = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)
VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))  # Alembic's bookkeeping


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    config.set_main_option("sqlalchemy.url", url)
    return config


class SchemaChange(NamedTuple):
    """The schema's revision before and after an upgrade; None before: there was no schema."""

    before: str | None
    after: str | None


def _revision(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table(VERSION_TABLE.name):
        return None
    return connection.execute(sa.select(VERSION_TABLE.c.version_num)).scalar_one_or_none()


async def upgrade(database: Database, revision: str = "head") -> SchemaChange:
    """Brings the schema to `revision` inside one transaction."""
    from alembic import command

    config = alembic_config(database.url)

    def run(connection: Connection) -> SchemaChange:
        before = _revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return SchemaChange(before, _revision(connection))

    async with database.engine.begin() as connection:
        return await connection.run_sync(run)


async def current_revision(database: Database) -> str | None:
    """The schema's revision; None: there is no schema. Read only: on SQLite it takes no write lock (a readiness
    probe must not hold up the writers)."""
    async with database.engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        return await connection.run_sync(_revision)


@cache  # the migrations shipped with the code a process runs: its models are theirs
def head_revision() -> str:
    """The newest migration's revision: the one no other migration revises. Read from the `revision` and
    `down_revision` each file assigns, without importing the files (they import Alembic)."""
    revises: dict[str, str | None] = {}
    for path in MIGRATIONS.glob("*.py"):
        assigned = dict(ASSIGNMENT.findall(path.read_text()))
        if revision := assigned.get("revision"):
            revises[ast.literal_eval(revision)] = ast.literal_eval(assigned.get("down_revision", "None"))
    heads = set(revises) - set(revises.values())
    if len(heads) != 1:
        raise RuntimeError(f"{MIGRATIONS}: {len(heads)} newest migrations, not one: {sorted(heads)}")
    return heads.pop()


async def is_current(database: Database) -> bool:
    """Whether the schema is at the newest migration."""
    return await current_revision(database) == head_revision()
