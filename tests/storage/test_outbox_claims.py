"""A claim reads the pending messages, not the outbox's history: the dispatcher must not slow down as the messages it
sent pile up (the plan of its statement is read on each database)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus
from storage.outbox import claim_due
from storage.types import utcnow

SENT = 3000  # a history the plan must not read
PENDING = 200  # a campaign's backlog, every other message paced


def rows(status: OutboxStatus, count: int) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "channel": "telegram",
            "kind": "survey_invitation",
            "payload": "{}",
            "status": status,
            "next_attempt_at": now,
            "created_at": now,
            "pace_seconds": 0.1 if number % 2 else None,
        }
        for number in range(count)
    ]


async def claim_plans(database: Database) -> list[str]:
    """Claims the due messages and gives the plan of each statement that read them."""
    reads: list[tuple[str, Any]] = []

    def seen(_c: Connection, _cursor: object, statement: str, parameters: Any, _context: object, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT"):
            reads.append((statement, parameters))

    now = utcnow() + timedelta(seconds=1)
    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with database.transaction() as session:
            claimed = await claim_due(
                session,
                channels=["telegram"],
                now=now,
                until=now + timedelta(minutes=1),
                worker="w",
                limit=20,
                paced_limit=20,
            )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert len(claimed) == 40
    explain = "EXPLAIN " if database.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    async with database.engine.connect() as connection:
        return [
            " ".join(str(row[-1]) for row in await connection.exec_driver_sql(explain + statement, parameters))
            for statement, parameters in reads
        ]


async def test_a_claim_reads_the_pending_messages_alone_however_many_were_sent_before(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(OutboxMessage), rows(OutboxStatus.SENT, SENT) + rows(OutboxStatus.PENDING, PENDING)
        )
        if database.engine.dialect.name == "postgresql":
            await connection.execute(text("ANALYZE outboxmessage"))
    plans = await claim_plans(database)
    assert len(plans) == 2  # the unpaced messages, then the paced
    if database.engine.dialect.name == "postgresql":
        assert ["ix_outbox_pending_unpaced" in plans[0], "ix_outbox_pending_paced" in plans[1]] == [True, True], plans
    else:  # SQLite's planner takes the status's index, which holds no sent message either
        assert all("USING INDEX ix_outboxmessage_status" in plan for plan in plans), plans
