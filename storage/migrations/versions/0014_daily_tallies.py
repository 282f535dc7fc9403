"""daily tallies of the answers, kept for the report

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-03

`answerday` and `respondentday` count the answers and respondents of each survey, channel and UTC day, and
`stoppedday` the conversations not completed by where they stopped, so that a report over a year reads a few
thousand rows instead of every answer; storage/tally.py folds them from the
conversations changed since `tallymark.through` (none yet: the first report folds every answer once).
`ix_conversation_updated` finds those conversations; `ix_complaint_survey_created` a survey's cases opened since a
period's start, which a report reads from the cases rather than from every conversation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answerday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("question_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("polarity_bin", sa.Integer(), nullable=True),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("anonymous", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_answerday_survey_day", "answerday", ["survey_id", "day"])
    op.create_table(
        "respondentday",
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("anonymous", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", "day", "channel"),
    )
    op.create_table(
        "stoppedday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("waiting_at", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_question", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_value", sa.Integer(), nullable=True),
        sa.Column("last_choice", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_skipped", sa.Boolean(), nullable=True),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stoppedday_survey_day", "stoppedday", ["survey_id", "day"])
    mark = op.create_table(
        "tallymark",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("through", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(mark, [{"name": "answers", "through": None}])  # the row every fold locks
    op.create_index("ix_conversation_updated", "conversation", ["updated_at"])
    op.create_index("ix_complaint_survey_created", "complaint", ["survey_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_complaint_survey_created", table_name="complaint")
    op.drop_index("ix_conversation_updated", table_name="conversation")
    op.drop_table("tallymark")
    op.drop_index("ix_stoppedday_survey_day", table_name="stoppedday")
    op.drop_table("stoppedday")
    op.drop_table("respondentday")
    op.drop_index("ix_answerday_survey_day", table_name="answerday")
    op.drop_table("answerday")
