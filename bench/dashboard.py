"""The dashboard with a million answers: how long its pages take, beside one raw SQL aggregate over the same rows.

Run: `.venv/bin/python bench/dashboard.py` (part of `make bench`). It writes --answers generated answers over a year
(csat: a score, and words for one in five; one in twenty conversations opens a case, a tenth of them still open)
into a fresh SQLite database with sqlite3's executemany, then asks the dashboard's pages in process, logged in, as
`feedbackbot run` serves them (the HTTP server's own time is left out): first when its report is counted, then the
median of --repeat more within the minute the dashboard keeps a report. The raw aggregate is the CSAT distribution of
every answer: the least any page that counts them can do. The whole run takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import load_surveys
from handlers.dashboard.app import build_dashboard
from handlers.registry import settings_model
from handlers.web import create_app
from storage.db import Database
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "bench-password-0123"
LOGIN = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
PAGES = (
    "/dashboard/",
    "/dashboard/?survey=csat&by=week",
    "/dashboard/?since=",
    "/dashboard/?since=&survey=csat&by=week",
    "/dashboard/cases",
)
START = datetime.now(UTC) - timedelta(days=365)  # a year of answers up to now: the first page counts 12 weeks of it
RAW_AGGREGATE = (
    "SELECT answer.value, count(*) FROM answer JOIN conversation ON conversation.id = answer.conversation_id "
    "WHERE conversation.survey_id = 'csat' AND answer.question_id = 'satisfaction' GROUP BY answer.value"
)


def conversations(count: int, chooser: random.Random) -> Iterator[tuple[object, ...]]:
    for number in range(1, count + 1):
        started = START + timedelta(seconds=chooser.randrange(365 * 86400))
        channel = chooser.choice(("telegram", "slack"))
        yield (number, "csat", channel, f"key-{number}", "en", 0, "completed", started, started, started, started)


def generate(path: Path, answers: int, seed: int = 7) -> None:
    """Answers, conversations and cases written straight into the migrated SQLite file."""
    chooser = random.Random(seed)
    count = answers // 2
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO conversation (id, survey_id, channel, respondent_key, language, anonymous, status, "
            "started_at, updated_at, expires_at, closed_at, has_complaint) VALUES (?,?,?,?,?,?,?,?,?,?,?,0)",
            ((*row[:7], *(str(moment) for moment in row[7:])) for row in conversations(count, chooser)),
        )
        rows = connection.execute("SELECT id, started_at FROM conversation").fetchall()
        scores = [chooser.choices((1, 2, 3, 4, 5), (5, 5, 10, 40, 40))[0] for _ in rows]
        connection.executemany(
            "INSERT INTO answer (conversation_id, question_id, kind, value, skipped, answered_at, updated_at) "
            "VALUES (?, 'satisfaction', 'csat', ?, 0, ?, ?)",
            ((number, score, started, started) for (number, started), score in zip(rows, scores, strict=True)),
        )
        connection.executemany(
            "INSERT INTO answer (conversation_id, question_id, kind, text, skipped, polarity, sentiment_label, "
            "answered_at, updated_at) VALUES (?, 'comment', 'text', ?, ?, ?, ?, ?, ?)",
            (
                (
                    number,
                    "words" if worded else None,
                    not worded,
                    -0.5 if score <= 2 else 0.5,
                    ("negative" if score <= 2 else "positive") if worded else None,
                    started,
                    started,
                )
                for (number, started), score in zip(rows, scores, strict=True)
                for worded in [chooser.random() < 0.2]
            ),
        )
        cases = [(number, started) for (number, started), score in zip(rows, scores, strict=True) if score == 1]
        connection.executemany(
            "INSERT INTO complaint (conversation_id, channel, survey_id, reasons, status, priority, created_at, "
            "root_cause, escalations, awaiting_reply) VALUES (?, 'telegram', 'csat', 'low_score', ?, 'normal', ?, ?, "
            "0, 0)",
            (
                (number, "new" if chooser.random() < 0.1 else "closed", started, chooser.choice(("people", "process")))
                for number, started in cases
            ),
        )


async def timed_pages(url: str, repeat: int) -> list[tuple[str, float, float]]:
    database = Database(url)
    surveys = load_surveys(ROOT / "surveys")
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    engine = Engine(database=database, surveys=surveys, analyzer=analyzer, hash_key=b"bench")
    settings = settings_model().model_validate({"dashboard": {"users": {USER: PASSWORD}}})
    core = Core(settings, database, surveys, engine, Cases(database, CaseDesk()))
    app = create_app(database, dashboard=build_dashboard(core))
    timings = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        for page in PAGES:
            runs = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                response = await client.get(page, headers=LOGIN)
                runs.append(time.perf_counter() - started)
                response.raise_for_status()
            timings.append((page, runs[0], statistics.median(runs[1:])))
    await database.close()
    return timings


def raw_aggregate_seconds(path: Path) -> float:
    with sqlite3.connect(path) as connection:
        started = time.perf_counter()
        connection.execute(RAW_AGGREGATE).fetchall()
        return time.perf_counter() - started


async def migrated(url: str) -> None:
    database = Database(url)
    await upgrade(database)
    await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(migrated(url))
        started = time.perf_counter()
        generate(path, arguments.answers)
        print(f"{arguments.answers:,} answers generated in {time.perf_counter() - started:.1f} s (SQLite)")
        print(f"raw SQL aggregate (CSAT distribution of every answer): {raw_aggregate_seconds(path):.3f} s")
        print(f"{'page':<40} {'counted (s)':>12} {'again (s)':>10}")
        for page, first, median in asyncio.run(timed_pages(url, arguments.repeat)):
            print(f"{page:<40} {first:>12.3f} {median:>10.3f}")


if __name__ == "__main__":
    main()
