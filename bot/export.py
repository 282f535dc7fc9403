"""Export of every answer, one row each, streamed from the database so any volume fits in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from sqlmodel import col, select

from storage.db import Database
from storage.models import Answer, Conversation, Person

BATCH_ROWS = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula (OWASP CSV injection)
COLUMNS = (
    "survey",
    "conversation",
    "reference",
    "question",
    "kind",
    "value",
    "choice",
    "text",
    "skipped",
    "polarity",
    "subjectivity",
    "sentiment",
    "person",
    "channel",
    "language",
    "status",
    "started_at",
    "answered_at",
    "updated_at",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


async def answer_rows(
    database: Database, *, since: datetime | None = None, survey_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every answer joined with its conversation, oldest first; the person is blank when anonymous."""
    statement = (
        select(Answer, Conversation, Person.platform_id)
        .join(Conversation, col(Conversation.id) == Answer.conversation_id)
        .outerjoin(Person, col(Person.id) == Conversation.person_id)
        .order_by(col(Answer.id))
        .execution_options(yield_per=BATCH_ROWS)
    )
    if since is not None:
        statement = statement.where(col(Answer.answered_at) >= since)
    if survey_id is not None:
        statement = statement.where(Conversation.survey_id == survey_id)
    async with database.snapshot() as session:
        async for answer, conversation, platform_id in await session.stream(statement):
            yield _row(answer, conversation, None if conversation.anonymous else platform_id)


def _row(answer: Answer, conversation: Conversation, person: str | None) -> dict[str, Any]:
    return {
        "survey": conversation.survey_id,
        "conversation": conversation.id,
        "reference": conversation.reference,
        "question": answer.question_id,
        "kind": answer.kind,
        "value": answer.value,
        "choice": answer.choice,
        "text": answer.text,
        "skipped": answer.skipped,
        "polarity": answer.polarity,
        "subjectivity": answer.subjectivity,
        "sentiment": answer.sentiment_label,
        "person": person,
        "channel": conversation.channel,
        "language": conversation.language,
        "status": conversation.status,
        "started_at": conversation.started_at.isoformat(),
        "answered_at": answer.answered_at.isoformat(),
        "updated_at": answer.updated_at.isoformat(),
    }


def inert(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: words starting like a formula get a leading apostrophe."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


async def export_answers(
    database: Database,
    out: TextIO,
    *,
    export_format: ExportFormat,
    since: datetime | None = None,
    survey_id: str | None = None,
) -> int:
    """Writes the rows to `out` as CSV (with a header, formulas made inert) or JSON lines (the raw data); returns how
    many."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS) if export_format == ExportFormat.CSV else None
    if writer:
        writer.writeheader()
    count = 0
    async for row in answer_rows(database, since=since, survey_id=survey_id):
        if writer:
            writer.writerow({column: inert(value) for column, value in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
