"""invitations made through the HTTP API: recipient channel, state, attributes, idempotency, conversation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

`invitation` gains what an invitation of the HTTP API records: the channel its message goes to, its state
(invited, skipped, sent, failed) and the reason, its attributes (a JSON object, filtered on by the API), the name of
the API key that made it with the caller's Idempotency-Key (unique per key) and a hash of the request, the
conversation its message opened and when it was sent. Nothing wrote invitations before: existing rows, if any, count
as invited.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="invited")
        )
        batch_op.add_column(sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("api_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_invitation_api_key_idempotency_key", ["api_key", "idempotency_key"])
        batch_op.create_foreign_key(
            "fk_invitation_conversation_id_conversation",
            "conversation",
            ["conversation_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.alter_column("state", server_default=None)  # the model gives each new row its state


def downgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_invitation_conversation_id_conversation", type_="foreignkey")
        batch_op.drop_constraint("uq_invitation_api_key_idempotency_key", type_="unique")
        for column in (
            "sent_at",
            "conversation_id",
            "request_hash",
            "idempotency_key",
            "api_key",
            "attributes",
            "reason",
            "state",
            "channel",
        ):
            batch_op.drop_column(column)
