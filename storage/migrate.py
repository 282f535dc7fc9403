"""Alembic migrations, run from code: `feedbackbot db upgrade` and the tests use the same path."""

from __future__ import annotations

from typing import NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import READ_ONLY, Database


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    config.set_main_option("sqlalchemy.url", url)
    return config


class SchemaChange(NamedTuple):
    """The schema's revision before and after an upgrade; None before: there was no schema."""

    before: str | None
    after: str | None


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database, revision: str = "head") -> SchemaChange:
    """Brings the schema to `revision` inside one transaction."""
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


async def is_current(database: Database) -> bool:
    """Whether the schema is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(database.url)).get_current_head()
    return await current_revision(database) == head
