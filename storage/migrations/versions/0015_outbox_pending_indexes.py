"""the outbox's pending messages indexed apart

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

A claim took the oldest pending message in the primary key's order, reading past every message sent before it: a
claim read the whole outbox's history (0.7 ms at 5,000 sent messages on PostgreSQL, and growing). Two partial
indexes hold the pending messages alone, the unpaced and the paced apart, as the dispatcher claims them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_outbox_pending_unpaced": "status = 'pending' AND pace_seconds IS NULL",
    "ix_outbox_pending_paced": "status = 'pending' AND pace_seconds IS NOT NULL",
}


def upgrade() -> None:
    for name, pending in INDEXES.items():
        where = sa.text(pending)
        op.create_index(name, "outboxmessage", ["id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="outboxmessage")
