"""Migrations carry existing data over: 0002 moves case references to their table and ties outbox rows to cases."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from bot.outbound import CaseAlert, CaseContact, CaseUpdate, StaffNotice, decode
from storage.db import Database
from storage.links import add_link, get_link
from storage.migrate import upgrade
from storage.models import CaseEvent, CaseReference, Invitation, OutboxMessage, Person
from storage.outbox import add
from storage.person_record import audit_log, record_request
from storage.schedule import claim_run
from storage.types import UTCDateTime
from tests.conftest import BACKENDS, downgrade, postgres_admin, postgres_url, with_database

NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)
# The tables as 0001 made them, with the columns the rows below fill.
COMPLAINT_0001 = sa.table(
    "complaint",
    *(sa.column(name, sa.String) for name in ("channel", "reasons", "status", "priority", "slack_channel", "slack_ts")),
    *(sa.column(name, sa.Integer) for name in ("id", "escalations", "telegram_message_id")),
    sa.column("awaiting_reply", sa.Boolean),
    sa.column("created_at", UTCDateTime()),
)
OUTBOX_0001 = sa.table(
    "outboxmessage",
    *(sa.column(name, sa.String) for name in ("channel", "kind", "payload", "status")),
    *(sa.column(name, sa.Integer) for name in ("id", "attempts")),
    sa.column("next_attempt_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)
EVENT_0001 = sa.table(
    "caseevent",
    *(sa.column(name, sa.String) for name in ("actor", "action")),
    sa.column("complaint_id", sa.Integer),
    sa.column("at", UTCDateTime()),
)
SLACK_TS = "1764147600.000100"
OLD_MESSAGES = [  # channel, kind, payload as 0001's code wrote them
    ("telegram", "case_alert", {"case": 1, "target": "-100123"}),
    ("slack", "case_alert", {"case": 1, "target": "CSTAFF"}),
    ("slack", "case_update", {"case": 1, "target": "CSTAFF", "line": "acknowledged by U1"}),
    ("telegram", "case_contact", {"case": 2, "platform_id": "777", "message": "Which account?"}),
    ("slack", "staff_notice", {"target": "CSTAFF", "text": "A slack handler failed"}),
]


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database without any table, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        name = f"migrate_{uuid.uuid4().hex[:12]}"
        await postgres_admin(f"CREATE DATABASE {name}")
        url = with_database(postgres_url(), name)
    database = Database(url)
    yield database
    await database.close()
    if request.param == "postgresql":
        await postgres_admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


async def fill_at_0001(database: Database) -> None:
    """Case 1 alerted on Slack and Telegram, case 2 on neither; their messages in the outbox."""
    complaint: dict[str, Any] = {
        "channel": "telegram",
        "reasons": "explicit",
        "status": "new",
        "priority": "high",
        "escalations": 0,
        "awaiting_reply": False,
        "created_at": NOW,
    }
    async with database.engine.begin() as connection:
        await connection.execute(
            COMPLAINT_0001.insert(),
            [
                complaint | {"id": 1, "slack_channel": "CSTAFF", "slack_ts": SLACK_TS, "telegram_message_id": 4242},
                complaint | {"id": 2, "slack_channel": None, "slack_ts": None, "telegram_message_id": None},
            ],
        )
        await connection.execute(
            EVENT_0001.insert(), [{"complaint_id": 1, "actor": "system", "action": "opened", "at": NOW}]
        )
        await connection.execute(
            OUTBOX_0001.insert(),
            [
                {
                    "channel": channel,
                    "kind": kind,
                    "payload": json.dumps(payload),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
                for channel, kind, payload in OLD_MESSAGES
            ],
        )


async def references(database: Database) -> list[tuple[int, str, str, str]]:
    async with database.snapshot() as session:
        rows = await session.exec(select(CaseReference).order_by(col(CaseReference.channel)))
        return [(row.case_id, row.channel, row.target, row.reference) for row in rows]


async def test_0002_carries_case_references_and_outbox_cases_over(empty_database: Database) -> None:
    await upgrade(empty_database, "0001")
    await fill_at_0001(empty_database)
    assert await upgrade(empty_database, "0002") == ("0001", "0002")
    assert await references(empty_database) == [(1, "slack", "CSTAFF", SLACK_TS), (1, "telegram", "-100123", "4242")]
    async with empty_database.snapshot() as session:
        # The columns 0002 has: later revisions add others to the model.
        columns = select(OutboxMessage.case_id, OutboxMessage.payload).order_by(col(OutboxMessage.id))
        outbox = list(await session.exec(columns))
        trail = list(await session.exec(select(CaseEvent)))
    assert [(case_id, decode(payload)) for case_id, payload in outbox] == [
        (1, CaseAlert(case_id=1, target="-100123")),
        (1, CaseAlert(case_id=1, target="CSTAFF")),
        (1, CaseUpdate(case_id=1, target="CSTAFF", line="acknowledged by U1")),
        (2, CaseContact(case_id=2, platform_id="777", message="Which account?")),
        (None, StaffNotice(target="CSTAFF", text="A slack handler failed")),
    ]
    assert [(event.complaint_id, event.action) for event in trail] == [(1, "opened")]  # the trail is kept


async def test_0002_downgrades_to_the_columns_and_payloads_of_0001(empty_database: Database) -> None:
    await upgrade(empty_database, "0001")
    await fill_at_0001(empty_database)
    await upgrade(empty_database)

    await downgrade(empty_database, "0001")

    async with empty_database.engine.begin() as connection:
        columns = ("id", "slack_channel", "slack_ts", "telegram_message_id")
        complaints = (
            await connection.execute(
                sa.select(*(COMPLAINT_0001.c[name] for name in columns)).order_by(COMPLAINT_0001.c.id)
            )
        ).all()
        payloads = (
            await connection.execute(
                sa.select(OUTBOX_0001.c.channel, OUTBOX_0001.c.kind, OUTBOX_0001.c.payload).order_by(OUTBOX_0001.c.id)
            )
        ).all()
    assert [tuple(row) for row in complaints] == [(1, "CSTAFF", SLACK_TS, 4242), (2, None, None, None)]
    assert [(channel, kind, json.loads(payload)) for channel, kind, payload in payloads] == OLD_MESSAGES


async def test_0003_adds_the_audit_log_and_downgrades_without_it(empty_database: Database) -> None:
    await upgrade(empty_database, "0002")
    assert await upgrade(empty_database, "0003") == ("0002", "0003")
    async with empty_database.transaction() as session:
        record_request(session, actor="dpo", action="person.forget", subject="f" * 64, counts={"answers": 2})
    async with empty_database.snapshot() as session:
        assert [(line.actor, line.counts) for line in await audit_log(session)] == [("dpo", {"answers": 2})]

    await downgrade(empty_database, "0002")

    async with empty_database.engine.begin() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert "auditentry" not in tables and "casereference" in tables


async def test_0004_gives_outbox_messages_a_correlation_id_and_downgrades_without_it(
    empty_database: Database,
) -> None:
    await upgrade(empty_database, "0001")
    await fill_at_0001(empty_database)
    await upgrade(empty_database, "0003")
    assert await upgrade(empty_database, "0004") == ("0003", "0004")
    outbox_0004 = sa.table(
        "outboxmessage", *(sa.column(column.name, column.type) for column in OUTBOX_0001.c), sa.column("correlation_id")
    )
    message = {"channel": "slack", "kind": "staff_notice", "payload": "{}", "status": "pending", "attempts": 0}
    async with empty_database.engine.begin() as connection:
        await connection.execute(
            outbox_0004.insert(), [message | {"next_attempt_at": NOW, "created_at": NOW, "correlation_id": "x-1"}]
        )
        ids = sa.select(outbox_0004.c.correlation_id).order_by(outbox_0004.c.id)
        correlation_ids = list((await connection.execute(ids)).scalars())
    assert correlation_ids == [None] * len(OLD_MESSAGES) + ["x-1"]  # none before 0004

    await downgrade(empty_database, "0003")

    async with empty_database.engine.begin() as connection:
        columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("outboxmessage"))
        kept = (await connection.execute(sa.select(sa.func.count()).select_from(OUTBOX_0001))).scalar_one()
    assert "correlation_id" not in [column["name"] for column in columns]
    assert kept == len(OLD_MESSAGES) + 1


async def test_0005_adds_the_scheduled_jobs_and_downgrades_without_them(empty_database: Database) -> None:
    await upgrade(empty_database, "0004")
    assert await upgrade(empty_database, "0005") == ("0004", "0005")
    async with empty_database.transaction() as session:
        first = await claim_run(session, job="retention", now=NOW, next_due=NOW + timedelta(hours=1))
    async with empty_database.transaction() as session:
        second = await claim_run(session, job="retention", now=NOW, next_due=NOW + timedelta(hours=1))
    assert (first, second) == (True, False)

    await downgrade(empty_database, "0004")

    async with empty_database.engine.begin() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert "scheduledjob" not in tables and "outboxmessage" in tables


async def test_0006_gives_invitations_their_state_and_idempotency_and_downgrades_without_them(
    empty_database: Database,
) -> None:
    await upgrade(empty_database, "0005")
    invitation_0001 = sa.table(
        "invitation",
        sa.column("token", sa.String),
        sa.column("survey_id", sa.String),
        sa.column("created_at", UTCDateTime()),
    )
    async with empty_database.engine.begin() as connection:
        await connection.execute(invitation_0001.insert(), [{"token": "t-1", "survey_id": "csat", "created_at": NOW}])
    assert await upgrade(empty_database, "0006") == ("0005", "0006")
    async with empty_database.snapshot() as session:  # the columns of 0006: later ones are not there yet
        invitations = list(await session.exec(select(Invitation.token, Invitation.state, Invitation.idempotency_key)))
    assert [tuple(row) for row in invitations] == [("t-1", "invited", None)]

    await downgrade(empty_database, "0005")

    async with empty_database.engine.begin() as connection:
        columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("invitation"))
        kept = (await connection.execute(sa.select(sa.func.count()).select_from(invitation_0001))).scalar_one()
    assert [column["name"] for column in columns] == [
        "id",
        "token",
        "survey_id",
        "reference",
        "person_id",
        "created_at",
        "used_at",
    ]
    assert kept == 1


async def test_0007_adds_survey_links_and_downgrades_without_them(empty_database: Database) -> None:
    await upgrade(empty_database, "0006")
    assert await upgrade(empty_database, "0007") == ("0006", "0007")
    async with empty_database.transaction() as session:
        link = await add_link(
            session,
            token="lk_1",
            survey_id="csat",
            reference="ORDER123",
            attributes={"region": "north"},
            created_by="api:crm",
            expires_at=None,
            now=NOW,
        )
        # The columns of 0007 only: later migrations add more to the table.
        insert = (
            "INSERT INTO invitation (token, survey_id, created_at, state, link_id)"
            " VALUES ('t-1', 'csat', :at, 'invited', :link)"
        )
        await (await session.connection()).execute(sa.text(insert).bindparams(at=NOW, link=link.id))
    async with empty_database.snapshot() as session:
        assert await get_link(session, token="lk_1") == link
        rows = await (await session.connection()).execute(sa.text("SELECT token, link_id FROM invitation"))
        assert [tuple(row) for row in rows] == [("t-1", link.id)]

    await downgrade(empty_database, "0006")

    async with empty_database.engine.begin() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("invitation"))
        kept = (await connection.execute(sa.text("SELECT token FROM invitation"))).scalars().all()
    assert "surveylink" not in tables and "link_id" not in [column["name"] for column in columns]
    assert kept == ["t-1"]


async def test_0009_adds_campaigns_and_paced_messages_and_downgrades_without_them(empty_database: Database) -> None:
    await upgrade(empty_database, "0007")
    assert await upgrade(empty_database, "0009") == ("0007", "0009")
    async with empty_database.transaction() as session:
        add(session, channel="slack", kind="staff_notice", payload="{}", case_id=None, now=NOW, pace_seconds=0.05)
    async with empty_database.snapshot() as session:
        paces = list(await session.exec(select(OutboxMessage.pace_seconds)))
    assert paces == [0.05]

    await downgrade(empty_database, "0007")

    async with empty_database.engine.begin() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        invitation = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("invitation"))
        outbox = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("outboxmessage"))
    assert "campaign" not in tables
    assert "campaign_id" not in [column["name"] for column in invitation]
    assert "pace_seconds" not in [column["name"] for column in outbox]


async def test_0010_counts_reminders_and_keeps_time_zones_and_downgrades_without_them(
    empty_database: Database,
) -> None:
    await upgrade(empty_database, "0009")
    invitation_0009 = sa.table(
        "invitation",
        *(sa.column(name, sa.String) for name in ("token", "survey_id", "state")),
        sa.column("created_at", UTCDateTime()),
    )
    async with empty_database.engine.begin() as connection:
        row = {"token": "t-1", "survey_id": "csat", "state": "sent", "created_at": NOW}
        await connection.execute(invitation_0009.insert(), [row])
    assert await upgrade(empty_database, "0010") == ("0009", "0010")
    async with empty_database.transaction() as session:
        session.add(Person(channel="slack", platform_id="U1", timezone="Asia/Tokyo"))
    async with empty_database.snapshot() as session:
        counted = list(await session.exec(select(Invitation.token, Invitation.reminders_sent)))
        zones = list(await session.exec(select(Person.timezone)))
    assert ([tuple(row) for row in counted], zones) == ([("t-1", 0)], ["Asia/Tokyo"])

    await downgrade(empty_database, "0009")

    async with empty_database.engine.begin() as connection:
        invitation = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("invitation"))
        person = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("person"))
        kept = (await connection.execute(sa.text("SELECT token FROM invitation"))).scalars().all()
    names = {column["name"] for column in invitation + person}
    assert not names & {"reminders_sent", "last_reminded_at", "timezone"}
    assert kept == ["t-1"]


async def test_0011_adds_the_report_indexes_and_downgrades_without_them(empty_database: Database) -> None:
    await upgrade(empty_database, "0010")
    assert await upgrade(empty_database, "0011") == ("0010", "0011")

    async def index_names() -> set[str]:
        async with empty_database.engine.begin() as connection:
            return await connection.run_sync(
                lambda sync: {
                    index["name"] or ""
                    for table in ("conversation", "answer")
                    for index in sa.inspect(sync).get_indexes(table)
                }
            )

    assert {"ix_conversation_survey_started", "ix_answer_label_answered"} <= await index_names()
    await downgrade(empty_database, "0010")
    assert not {"ix_conversation_survey_started", "ix_answer_label_answered"} & await index_names()


async def test_0014_adds_the_daily_tallies_unfolded_and_downgrades_without_them(empty_database: Database) -> None:
    await upgrade(empty_database, "0011")
    assert await upgrade(empty_database, "0014") == ("0011", "0014")

    async def table_names() -> set[str]:
        async with empty_database.engine.begin() as connection:
            return await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))

    async with empty_database.engine.begin() as connection:
        marks = (await connection.execute(sa.text("SELECT name, through FROM tallymark"))).all()
    assert [tuple(mark) for mark in marks] == [("answers", None)]  # the first report folds every answer
    assert {"answerday", "respondentday", "stoppedday", "tallymark"} <= await table_names()
    await downgrade(empty_database, "0011")
    assert not {"answerday", "respondentday", "stoppedday", "tallymark"} & await table_names()
