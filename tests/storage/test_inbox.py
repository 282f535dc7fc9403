"""The inbox's statements: each update stored once, given up after repeated failures, then only its id kept."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import inbox
from storage.db import Database
from storage.inbox import PendingUpdate
from tests.conftest import database_dump

NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)


async def test_an_update_is_stored_once_and_waits_until_handled(database: Database) -> None:
    async with database.transaction() as session:
        assert await inbox.store_new(session, channel="telegram", payloads={7: '{"a": 1}', 8: '{"b": 2}'}) == {7, 8}
    async with database.transaction() as session:
        assert await inbox.store_new(session, channel="telegram", payloads={8: '{"b": 2}', 9: '{"c": 3}'}) == {9}
        await inbox.mark_handled(session, channel="telegram", update_ids=[8], now=NOW)
    async with database.snapshot() as session:
        pending = await inbox.unhandled(session, channel="telegram")
        newest = await inbox.newest_update_id(session, channel="telegram", at_most=2**63 - 1)
        elsewhere = await inbox.unhandled(session, channel="other")
    assert pending == [PendingUpdate(7, '{"a": 1}'), PendingUpdate(9, '{"c": 3}')]
    assert (newest, elsewhere) == (9, [])


async def test_an_update_that_keeps_failing_is_given_up_without_its_payload(database: Database) -> None:
    async with database.transaction() as session:
        await inbox.store_new(session, channel="telegram", payloads={7: '{"from": "alice"}'})
    counted = []
    for _ in range(3):
        async with database.transaction() as session:
            counted.append(
                await inbox.count_failure(session, channel="telegram", update_id=7, give_up_after=2, now=NOW)
            )
    async with database.snapshot() as session:
        assert await inbox.unhandled(session, channel="telegram") == []
    assert counted == [1, 2, None]  # given up at the second failure; afterwards it counts as handled
    assert "alice" not in await database_dump(database)
