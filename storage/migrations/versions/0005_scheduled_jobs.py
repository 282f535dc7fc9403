"""scheduled jobs that one of several processes runs when due

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

`scheduledjob`: a row per job (retention first) with the time it is next due; the process that moves that time on
runs the job, so it runs once per period with several processes and across restarts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduledjob",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduledjob")
