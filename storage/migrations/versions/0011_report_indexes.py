"""indexes for the report's latest comments and contradictions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

The report lists a survey's latest negative comments (1,000) and latest contradicted scores (20). Without an index
in that order, each read sorted every comment of the period; with one it walks back from the latest and stops:
`ix_conversation_survey_started` (survey_id, started_at) and `ix_answer_label_answered` (sentiment_label,
answered_at).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_conversation_survey_started", "conversation", ["survey_id", "started_at"])
    op.create_index("ix_answer_label_answered", "answer", ["sentiment_label", "answered_at"])


def downgrade() -> None:
    op.drop_index("ix_answer_label_answered", table_name="answer")
    op.drop_index("ix_conversation_survey_started", table_name="conversation")
