"""The export: one row per answer, filtered by date and survey, anonymous answers without a person."""

from __future__ import annotations

import csv
import io
import json

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
