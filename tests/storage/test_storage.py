"""Storage on both engines: the migrations match the models, times are UTC, the constraints hold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import db, queries
from storage.db import Database
from storage.migrate import is_current
from storage.models import Complaint, Conversation, ConversationStatus, OutboxMessage, Person
from tests.conftest import dsn, postgres_url


async def test_the_migrations_create_exactly_the_tables_of_the_models(database: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    assert await is_current(database)


def conversation(person_id: int | None, status: str = ConversationStatus.OPEN) -> Conversation:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    return Conversation(
        survey_id="csat",
        channel="test",
        respondent_key="k",
        person_id=person_id,
        language="en",
        status=status,
        expires_at=now + timedelta(days=1),
        started_at=now,
    )


async def test_times_come_back_timezone_aware_in_utc(database: Database) -> None:
    local = datetime(2026, 11, 26, 14, 30, tzinfo=UTC).astimezone()
    async with database.transaction() as session:
        stored = conversation(None)
        stored.started_at = local
        session.add(stored)
    async with database.snapshot() as session:
        loaded = await session.get(Conversation, stored.id)
    assert loaded is not None
    assert loaded.started_at.tzinfo == UTC
    assert loaded.started_at == local


async def test_naive_times_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with database.transaction() as session:
            naive = conversation(None)
            naive.started_at = datetime(2026, 1, 1)
            session.add(naive)


async def test_one_open_conversation_per_respondent_and_channel(database: Database) -> None:
    async with database.transaction() as session:
        session.add(conversation(None, ConversationStatus.COMPLETED))
        session.add(conversation(None, ConversationStatus.PARTIAL))
        session.add(conversation(None))
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(conversation(None))


async def test_an_anonymous_conversation_closed_by_hand_or_by_the_expiry_sweep_keeps_nothing_to_link(
    database: Database,
) -> None:
    later = datetime(2026, 11, 28, tzinfo=UTC)  # past both conversations' expiry
    async with database.transaction() as session:
        by_hand, by_sweep = conversation(None), conversation(None)
        by_hand.respondent_key, by_sweep.respondent_key = "hash-of-alice", "hash-of-bob"
        by_hand.anonymous = by_sweep.anonymous = True
        session.add_all([by_hand, by_sweep])
        await session.flush()
        queries.close_conversation(by_hand, now=later, status=ConversationStatus.PARTIAL)
    async with database.transaction() as session:
        assert await queries.close_expired_conversations(session, now=later) == 1
    async with database.snapshot() as session:
        closed = list(await session.exec(select(Conversation).order_by(col(Conversation.id))))
    assert [(c.respondent_key, c.status, c.closed_at, c.current_question) for c in closed] == [
        (f"closed-{by_hand.id}", ConversationStatus.PARTIAL, later, None),
        (f"closed-{by_sweep.id}", ConversationStatus.PARTIAL, later, None),
    ]


async def test_one_person_per_channel_and_platform_id(database: Database) -> None:
    async with database.transaction() as session:
        session.add(Person(channel="telegram", platform_id="42"))
        session.add(Person(channel="slack", platform_id="42"))
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(Person(channel="telegram", platform_id="42"))


async def test_a_failed_statement_names_none_of_its_values(database: Database) -> None:
    """Database errors are logged as warnings: a customer's words in a statement must not reach them."""
    words = "my parcel 714862471 arrived crushed"
    conversation = Conversation(
        survey_id="csat", channel="test", respondent_key="k", language="en", expires_at=datetime.now(UTC)
    )
    with pytest.raises(IntegrityError) as failed:
        async with database.transaction() as session:
            session.add(conversation)
            await session.flush()
            for _ in range(2):  # one complaint per conversation
                session.add(Complaint(conversation_id=conversation.id, channel="test", reasons="negative", text=words))
    assert "714862471" not in str(failed.value)


async def test_jobs_committed_together_fail_alone(database: Database) -> None:
    """A failing job of a group commit fails only its own caller; the jobs queued with it are committed."""

    def add(platform_id: str) -> Callable[[AsyncSession], Awaitable[str]]:
        async def job(session: AsyncSession) -> str:
            session.add(Person(channel="test", platform_id=platform_id))
            await session.flush()
            return platform_id

        return job

    results = await asyncio.gather(
        *(database.group_commit.run(add(platform_id)) for platform_id in ("a", "b", "a", "c")), return_exceptions=True
    )
    assert sorted(result for result in results if isinstance(result, str)) == ["a", "b", "c"]
    assert len([result for result in results if isinstance(result, IntegrityError)]) == 1  # either "a" may win
    async with database.snapshot() as session:
        assert sorted(await session.exec(select(Person.platform_id))) == ["a", "b", "c"]


async def test_forgetting_someone_with_a_thousand_cases_drops_every_message_to_them(database: Database) -> None:
    async with database.transaction() as session:
        person = Person(channel="telegram", platform_id="777")
        session.add(person)
        await session.flush()
        cases = [Complaint(person_id=person.id, channel="telegram", reasons="explicit") for _ in range(1_001)]
        session.add_all(cases)
        await session.flush()
        for case in cases:
            payload = json.dumps({"kind": "case_contact", "case_id": case.id, "platform_id": "777", "message": "Hi"})
            session.add(OutboxMessage(channel="telegram", kind="case_contact", payload=payload, case_id=case.id))
    async with database.transaction() as session:
        await queries.forget_respondent(session, channel="telegram", platform_id="777", respondent_keys=[])
    async with database.snapshot() as session:
        assert list(await session.exec(select(OutboxMessage))) == []
        assert {case.person_id for case in await session.exec(select(Complaint))} == {None}


async def test_the_callers_of_a_cancelled_group_commit_are_cancelled_not_left_waiting(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'group.db'}")
    running, release = asyncio.Event(), asyncio.Event()

    async def slow(session: AsyncSession) -> None:
        running.set()
        await release.wait()

    async def quick(session: AsyncSession) -> None:
        return None

    callers = [asyncio.create_task(database.group_commit.run(slow))]
    await running.wait()
    callers += [asyncio.create_task(database.group_commit.run(quick)) for _ in range(2)]
    await asyncio.sleep(0)
    runner = database.group_commit._runner
    assert runner is not None
    runner.cancel()  # as at shutdown
    results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), timeout=5)
    assert [type(result) for result in results] == [asyncio.CancelledError] * 3
    await database.close()


def sqlite_files(database: Database) -> bytes:
    path = Path(make_url(database.url).database or "")
    return b"".join(file.read_bytes() for file in (path, path.with_name(path.name + "-wal")) if file.exists())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_scrub_leaves_no_trace_of_a_deleted_row_in_the_files(database: Database) -> None:
    async with database.transaction() as session:
        session.add(Person(channel="test", platform_id="erase-me-4711"))
    async with database.transaction() as session:
        await session.exec(delete(Person))
    assert b"erase-me-4711" in sqlite_files(database)  # the check below can fail
    await database.scrub()
    assert b"erase-me-4711" not in sqlite_files(database)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_scrub_that_a_reader_blocks_stays_requested_for_the_next_caller(database: Database) -> None:
    async with database.transaction() as session:
        session.add(Person(channel="test", platform_id="erase-me-4711"))
    async with database.snapshot() as reader:
        await reader.exec(select(Person))  # a read transaction on the snapshot before the scrub
        async with database.transaction() as session:
            await session.exec(delete(Person))
        await database.scrub()
        assert database.take_scrub_request()
    await database.scrub()
    assert not database.scrub_requested and b"erase-me-4711" not in sqlite_files(database)


async def _backend_pid(database: Database) -> int:
    async with database.snapshot() as session:
        return int((await session.exec(select(func.pg_backend_pid()))).one())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_pooled_connections_a_database_restart_closed_are_replaced_unseen(database: Database) -> None:
    before = await _backend_pid(database)
    admin = await asyncpg.connect(dsn(postgres_url()))
    try:  # what a restart does to the pooled connection: its server process ends
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", before)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the socket's end reaches the client
    async with database.transaction() as session:
        session.add(Person(channel="telegram", platform_id="1"))
    assert await _backend_pid(database) != before
    assert not database.errors


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_connection_idle_for_a_while_is_pinged_and_kept_when_it_answers(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await _backend_pid(database)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert await _backend_pid(database) == before


async def test_a_burst_past_the_pool_waits_for_its_connections_rather_than_opening_more() -> None:
    """Each PostgreSQL connection opened past the pool was closed on its return: a server process started and ended,
    its statements prepared again, for one transaction."""
    database = Database(postgres_url())
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda connection, _record: opened.append(connection))

    async def one_transaction() -> None:
        async with database.transaction() as session:
            await session.exec(select(func.pg_sleep(0.02)))

    try:
        await asyncio.gather(*(one_transaction() for _ in range(3 * db.POSTGRES_POOL_SIZE)))
    finally:
        await database.close()
    assert 1 <= len(opened) <= db.POSTGRES_POOL_SIZE
