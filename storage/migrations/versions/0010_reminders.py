"""reminders of invited surveys: how many each invitation got and when, and a person's time zone

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

`invitation.reminders_sent` and `invitation.last_reminded_at`: the minute's sweep counts a reminder on them in the
transaction that queues its message. `person.timezone` (an IANA name,
where the platform tells it) places the quiet hours in the person's day. Existing invitations start with no reminder.
`invitation.conversation_id` is indexed: the sweep reaches invitations from the open conversations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_reminded_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.alter_column("reminders_sent", server_default=None)  # the model gives each new row its count
        batch_op.create_index(batch_op.f("ix_invitation_conversation_id"), ["conversation_id"], unique=False)
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_conversation_id"))
        batch_op.drop_column("last_reminded_at")
        batch_op.drop_column("reminders_sent")
