"""case references in one table, outbox messages typed and tied to their case

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

The platform columns of `complaint` (slack_channel, slack_ts, telegram_message_id) move to `casereference`, one row
per case and channel. Outbox payloads take the shape of bot.outbound's models (`kind`, `case_id` instead of `case`)
and their case goes to the new indexed `outboxmessage.case_id`.
"""

import json
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = sa.table(
    "outboxmessage",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("kind", sa.String),
    sa.column("payload", sa.Text),
    sa.column("case_id", sa.Integer),
)
COMPLAINT = sa.table(
    "complaint",
    sa.column("id", sa.Integer),
    sa.column("slack_channel", sa.String),
    sa.column("slack_ts", sa.String),
    sa.column("telegram_message_id", sa.Integer),
)
REFERENCE = sa.table(
    "casereference",
    sa.column("case_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("target", sa.String),
    sa.column("reference", sa.String),
)
# A copied table would be dropped, and on SQLite with foreign keys on, dropping `complaint` deletes its trail (ON
# DELETE CASCADE): its columns are added and dropped in place (SQLite 3.35 and later, PostgreSQL).
IN_PLACE: Literal["never"] = "never"


def upgrade() -> None:
    op.create_table(
        "casereference",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["complaint.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "channel"),
    )
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outboxmessage_case_id"), ["case_id"], unique=False)
    telegram_chats = _type_outbox_payloads(op.get_bind())
    _copy_references(op.get_bind(), telegram_chats)
    with op.batch_alter_table("complaint", schema=None, recreate=IN_PLACE) as batch_op:
        batch_op.drop_column("telegram_message_id")
        batch_op.drop_column("slack_ts")
        batch_op.drop_column("slack_channel")


def downgrade() -> None:
    with op.batch_alter_table("complaint", schema=None, recreate=IN_PLACE) as batch_op:
        batch_op.add_column(sa.Column("slack_channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("slack_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("telegram_message_id", sa.Integer(), nullable=True))
    connection = op.get_bind()
    _restore_references(connection)
    _untype_outbox_payloads(connection)
    with op.batch_alter_table("outboxmessage", schema=None, recreate=IN_PLACE) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outboxmessage_case_id"))
        batch_op.drop_column("case_id")
    op.drop_table("casereference")


def _type_outbox_payloads(connection: sa.Connection) -> dict[int, str]:
    """Every payload in its model's shape, its case in `case_id`; returns the Telegram staff chat of each case's
    alert (the old columns kept only its message id)."""
    telegram_chats: dict[int, str] = {}
    changes: list[dict[str, Any]] = []
    rows = connection.execute(sa.select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.kind, OUTBOX.c.payload))
    for row_id, channel, kind, payload in rows.all():
        fields = json.loads(payload)
        case = fields.pop("case", None)
        typed = {"kind": kind} | ({} if case is None else {"case_id": case}) | fields
        if case is not None and channel == "telegram" and kind == "case_alert":
            telegram_chats[case] = str(fields["target"])
        changes.append({"row_id": row_id, "new_payload": json.dumps(typed), "new_case": case})
    _update_outbox(connection, changes)
    return telegram_chats


def _untype_outbox_payloads(connection: sa.Connection) -> None:
    """Payloads as 0001 wrote them: the case first, as `case`, which /forget matched on."""
    changes: list[dict[str, Any]] = []
    for row_id, payload in connection.execute(sa.select(OUTBOX.c.id, OUTBOX.c.payload)).all():
        fields = json.loads(payload)
        fields.pop("kind", None)
        case = fields.pop("case_id", None)
        untyped = fields if case is None else {"case": case} | fields
        changes.append({"row_id": row_id, "new_payload": json.dumps(untyped), "new_case": case})
    _update_outbox(connection, changes)


def _update_outbox(connection: sa.Connection, changes: list[dict[str, Any]]) -> None:
    if changes:
        connection.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id == sa.bindparam("row_id"))
            .values(payload=sa.bindparam("new_payload"), case_id=sa.bindparam("new_case")),
            changes,
        )


def _copy_references(connection: sa.Connection, telegram_chats: dict[int, str]) -> None:
    """One row per case and channel; a Telegram alert whose chat no outbox row tells is left out (not edited)."""
    references: list[dict[str, Any]] = []
    columns = (COMPLAINT.c.id, COMPLAINT.c.slack_channel, COMPLAINT.c.slack_ts, COMPLAINT.c.telegram_message_id)
    for case, slack_channel, slack_ts, telegram_message_id in connection.execute(sa.select(*columns)).all():
        if slack_channel and slack_ts:
            references.append({"case_id": case, "channel": "slack", "target": slack_channel, "reference": slack_ts})
        if telegram_message_id is not None and case in telegram_chats:
            references.append(
                {
                    "case_id": case,
                    "channel": "telegram",
                    "target": telegram_chats[case],
                    "reference": str(telegram_message_id),
                }
            )
    if references:
        connection.execute(REFERENCE.insert(), references)


def _restore_references(connection: sa.Connection) -> None:
    columns = (REFERENCE.c.case_id, REFERENCE.c.channel, REFERENCE.c.target, REFERENCE.c.reference)
    for case, channel, target, reference in connection.execute(sa.select(*columns)).all():
        if channel == "slack":
            values: dict[str, Any] = {"slack_channel": target, "slack_ts": reference}
        elif channel == "telegram":
            values = {"telegram_message_id": int(reference)}
        else:
            continue  # a channel 0001 had no column for
        connection.execute(COMPLAINT.update().where(COMPLAINT.c.id == case).values(values))
