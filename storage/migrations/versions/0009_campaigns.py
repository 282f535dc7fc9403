"""campaigns: the campaign table, each invitation's campaign, paced outbox messages

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03

`campaign` records each `feedbackbot campaign send` by its unique name: survey, rate, recipients file and how far
its invitations' send times reach. `invitation` gains the campaign it belongs to (unique per campaign and
idempotency key, which names the recipient) and an index on person and time for the recontact rule.
`outboxmessage` gains `pace_seconds`: a paced message is claimed after every unpaced one and sent at that spacing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paced_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_invitation_campaign_id_campaign", "campaign", ["campaign_id"], ["id"])
        batch_op.create_unique_constraint(
            "uq_invitation_campaign_id_idempotency_key", ["campaign_id", "idempotency_key"]
        )
        batch_op.create_index(batch_op.f("ix_invitation_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index("ix_invitation_person_id_created_at", ["person_id", "created_at"], unique=False)
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pace_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_column("pace_seconds")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_person_id_created_at")
        batch_op.drop_index(batch_op.f("ix_invitation_campaign_id"))
        batch_op.drop_constraint("uq_invitation_campaign_id_idempotency_key", type_="unique")
        batch_op.drop_constraint("fk_invitation_campaign_id_campaign", type_="foreignkey")
        batch_op.drop_column("campaign_id")
    op.drop_table("campaign")
