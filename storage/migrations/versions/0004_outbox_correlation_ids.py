"""outbox messages keep the correlation id of what queued them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

`outboxmessage.correlation_id`: the id of the update or request whose handling queued the message, so that the
dispatcher logs its send under that id. Rows queued before have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_column("correlation_id")
