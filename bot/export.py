"""Export of every answer, one row each, streamed from the database so any volume fits in memory."""

from __future__ import annotations

import csv
import json
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
    """Writes every answer joined with its conversation, oldest first (times in ISO 8601; the person blank when
    anonymous), to `out` as CSV (with a header, formulas made inert) or JSON lines (the raw data); returns how
    many."""
    writer = csv.writer(out) if export_format == ExportFormat.CSV else None
    if writer:
        writer.writerow(COLUMNS)
    count = 0
    async with database.snapshot() as session:
        async for row in views.answer_rows(session, since=since, survey_id=survey_id):
            values = [_plain(value) for value in row]
            if writer:
                writer.writerow([inert(value) for value in values])
            else:
                out.write(json.dumps(dict(zip(COLUMNS, values, strict=True)), ensure_ascii=False) + "\n")
            count += 1
    return count
