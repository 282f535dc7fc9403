"""Export of every answer, one row each, streamed from the database so any volume fits in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from storage import views
from storage.db import Database

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula (OWASP CSV injection)
COLUMNS = views.AnswerRow._fields  # in this order


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


async def answer_rows(
    database: Database, *, since: datetime | None = None, survey_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every answer joined with its conversation, oldest first, times in ISO 8601; the person is blank when
    anonymous."""
    async with database.snapshot() as session:
        async for row in views.answer_rows(session, since=since, survey_id=survey_id):
            yield {column: _plain(value) for column, value in row._asdict().items()}


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


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
