"""The export: one row per answer, filtered by date and survey, anonymous answers without a person."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bot.engine import Engine
from bot.export import COLUMNS, ExportFormat, export_answers
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock


async def answer_surveys(engine: Engine, clock: Clock) -> None:
    alice = Customer(engine, "alice")
    await alice.start("nps", reference="ORDER-7")
    await alice.say("9")
    await alice.say("Fast delivery, friendly courier")
    clock.advance(days=2)
    bob = Customer(engine, "bob")
    await bob.start("internal-service")
    await bob.say("it-helpdesk")


async def export(database: Database, export_format: ExportFormat, **filters: object) -> str:
    out = io.StringIO()
    await export_answers(database, out, export_format=export_format, **filters)  # type: ignore[arg-type]
    return out.getvalue()


async def test_csv_has_a_header_and_one_row_per_answer(engine: Engine, database: Database, clock: Clock) -> None:
    await answer_surveys(engine, clock)
    rows = list(csv.DictReader(io.StringIO(await export(database, ExportFormat.CSV))))
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["survey"], r["question"], r["person"], r["reference"]) for r in rows] == [
        ("nps", "recommend", "alice", "ORDER-7"),
        ("nps", "reason", "alice", "ORDER-7"),
        ("internal-service", "service", "", ""),
    ]
    assert float(rows[1]["polarity"]) > 0
    assert rows[0]["answered_at"] == "2026-11-26T09:00:00+00:00"


async def test_jsonl_filters_by_date_and_survey(engine: Engine, database: Database, clock: Clock) -> None:
    await answer_surveys(engine, clock)
    recent = [json.loads(line) for line in (await export(database, ExportFormat.JSONL, since=clock.now)).splitlines()]
    assert [row["survey"] for row in recent] == ["internal-service"]
    assert recent[0]["person"] is None and recent[0]["choice"] == "it-helpdesk"
    nps = (await export(database, ExportFormat.JSONL, survey_id="nps")).splitlines()
    assert [json.loads(line)["value"] for line in nps] == [9, None]


FORMULAS = {  # what the customer typed -> the comment's cell (a comment is stored without surrounding spaces)
    '=HYPERLINK("https://evil.example","Details")': '\'=HYPERLINK("https://evil.example","Details")',
    "+1+2": "'+1+2",
    "-2+3": "'-2+3",
    "@SUM(A1:A2)": "'@SUM(A1:A2)",
    "\tindented": "indented",
    "\rreturn": "return",
}


@pytest.mark.parametrize(("words", "comment_cell"), FORMULAS.items())
async def test_csv_cells_that_start_like_a_formula_are_made_text(
    engine: Engine, database: Database, words: str, comment_cell: str
) -> None:
    customer = Customer(engine)
    await customer.start("nps", reference=words)
    await customer.say("9")
    await customer.say(words)
    rows = list(csv.DictReader(io.StringIO(await export(database, ExportFormat.CSV), newline="")))
    assert [(row["reference"], row["text"]) for row in rows] == [(f"'{words}", ""), (f"'{words}", comment_cell)]
    assert rows[0]["value"] == "9"  # numbers stay numbers
    jsonl = [json.loads(line) for line in (await export(database, ExportFormat.JSONL)).splitlines()]
    assert (jsonl[1]["reference"], jsonl[1]["text"]) == (words, words.strip())  # JSON lines keep the raw data
