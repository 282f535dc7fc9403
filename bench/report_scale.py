"""Reports at scale: `feedbackbot report` and `export` over a million answers given across a year, on SQLite.

Run: `.venv/bin/python bench/report_scale.py [--answers N]` (part of `make bench`). It builds the database once with
`feedbackbot db upgrade` and SQLAlchemy Core inserts into the project's own tables (about half a minute), then
times, each as the median of --repeats real `feedbackbot` processes:
- `feedbackbot report --format json` (and `--by week`), against one raw SQL aggregate over the same rows (the score
  counts per survey and question, in the stdlib's sqlite3) measured in the same run. The first report after the
  fill folds every answer into the daily tallies (storage/tally.py) and is printed apart; before each timed one a
  day's share of the answers is written, as if a report ran every day, which it folds in. The command's own start
  (imports, settings, surveys, opening the database) is measured on an empty database and printed apart, since a
  million rows do not change it: the ratio is of the report's work, wall time minus that start. Targets: the work
  at most 3 times the raw aggregate, and the whole command under 2 s. The same ratio of CPU time (user and system)
  is printed beside it: on a busy machine it moves less than the wall time.
- `feedbackbot export` of every answer, and of about a tenth of them (`--since`), with the peak resident memory of
  each process: streamed, the peak does not grow with the rows.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Table, create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.models import SQLModel  # noqa: E402

FEEDBACKBOT = Path(sys.executable).with_name("feedbackbot")
SURVEYS = {"csat": ("satisfaction", 1, 5), "nps": ("recommend", 0, 10), "ces": ("effort", 1, 7)}
COMMENT_QUESTION = {"csat": "comment", "nps": "reason", "ces": "obstacle"}
CHANNELS = ("telegram", "slack")
ROOT_CAUSES = ("delivery", "product", "staff", "billing", "process")
# A comment with its sentiment, as the analyzer would store it; None: the question was skipped.
COMMENTS = (
    ("late again and nobody answered", -0.4, "negative"),
    ("great service, thank you", 0.8, "positive"),
    ("the app crashed twice", -0.3, "negative"),
    ("ok", 0.5, "positive"),
    None,
)
BATCH = 20_000
YEAR = timedelta(days=365)


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


class Batch(NamedTuple):
    """Which conversations to write: `count` of them, numbered from `first_id`, started over the `span` before
    `now`, each last written when it started (`written_at` None) or at `written_at`."""

    count: int
    now: datetime
    first_id: int = 1
    span: timedelta = YEAR
    written_at: datetime | None = None


def conversations(batch: Batch) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The batch's completed conversations, each with a score and a comment. Their ids follow their start, as in a
    database the bot filled (each conversation is written when it starts)."""
    rng = random.Random(7 + batch.first_id)
    starts = sorted(batch.now - batch.span * rng.random() for _ in range(batch.count))
    for number, started in enumerate(starts, start=batch.first_id):
        written = batch.written_at or started
        survey = rng.choice(tuple(SURVEYS))
        question, low, high = SURVEYS[survey]
        score = rng.randint(low, high)
        comment = rng.choice(COMMENTS)
        conversation = {
            "id": number,
            "survey_id": survey,
            "channel": rng.choice(CHANNELS),
            "respondent_key": f"r{number}",
            "language": "en",
            "status": "completed",
            "started_at": started,
            "updated_at": written,
            "expires_at": started + timedelta(hours=72),
            "closed_at": started + timedelta(minutes=2),
        }
        text, polarity, label = comment or (None, None, None)
        answer = {"conversation_id": number, "answered_at": started, "updated_at": written}
        score_answer = {"question_id": question, "kind": survey, "value": score, "text": None, "skipped": False}
        comment_answer = {"question_id": COMMENT_QUESTION[survey], "kind": "text", "value": None, "text": text}
        no_sentiment = {"polarity": None, "sentiment_label": None}
        answers = [
            answer | score_answer | no_sentiment,
            answer | comment_answer | {"skipped": text is None, "polarity": polarity, "sentiment_label": label},
        ]
        yield conversation, answers


def cases_of(conversation: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A case for a low score: most acknowledged within hours and resolved within days, with a root cause."""
    created = conversation["closed_at"]
    acknowledged = created + timedelta(hours=rng.expovariate(1 / 4)) if rng.random() < 0.9 else None
    resolved = acknowledged + timedelta(days=rng.expovariate(1 / 2)) if acknowledged and rng.random() < 0.8 else None
    return {
        "conversation_id": conversation["id"],
        "channel": conversation["channel"],
        "survey_id": conversation["survey_id"],
        "reasons": "low_score",
        "status": "closed" if resolved else "acknowledged" if acknowledged else "new",
        "priority": "normal",
        "root_cause": rng.choice(ROOT_CAUSES) if resolved else None,
        "created_at": created,
        "acknowledged_at": acknowledged,
        "resolved_at": resolved,
        "awaiting_reply": False,
        "escalations": 0,
    }


def fill(url: str, answers: int, now: datetime) -> None:
    """Writes answers // 2 conversations over the past year with two answers each, and a case for every lowest
    score."""
    write_batch(url, Batch(answers // 2, now))


def add_a_day(url: str, answers: int) -> None:
    """Writes a day's share of `answers` more (started over the past day, written now), after those there: what a
    report folds into its tallies when one runs every day."""
    engine = create_engine(url)
    with engine.connect() as connection:
        last = connection.execute(text("SELECT max(id) FROM conversation")).scalar_one()
    engine.dispose()
    now = datetime.now(UTC)
    write_batch(url, Batch(answers // 2 // 365, now, last + 1, timedelta(days=1), now))


def write_batch(url: str, conversations_of: Batch) -> None:
    engine = create_engine(url)
    rng = random.Random(11 + conversations_of.first_id)
    batch: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] = ([], [], [])
    with engine.begin() as connection:
        for conversation, given in conversations(conversations_of):
            batch[0].append(conversation)
            batch[1].extend(given)
            if given[0]["value"] == SURVEYS[conversation["survey_id"]][1]:
                batch[2].append(cases_of(conversation, rng))
            if len(batch[1]) >= BATCH:
                write(connection, batch)
                batch = ([], [], [])
        write(connection, batch)
    engine.dispose()


def write(connection: Any, batch: tuple[list[dict[str, Any]], ...]) -> None:
    for name, rows in zip(("conversation", "answer", "complaint"), batch, strict=True):
        if rows:
            connection.execute(insert(table(name)), rows)


class Timing(NamedTuple):
    wall: float  # seconds
    cpu: float  # seconds of user and system time
    peak_mb: float  # peak resident memory


def timed(command: list[str], folder: Path, env: dict[str, str]) -> Timing:
    """One real process's times and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return Timing(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median_of(
    repeats: int, command: list[str], folder: Path, env: dict[str, str], before_each: Callable[[], None] = lambda: None
) -> Timing:
    runs = []
    for _ in range(repeats):
        before_each()
        runs.append(timed(command, folder, env))
    return Timing(
        statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs), max(r.peak_mb for r in runs)
    )


def raw_aggregate(path: Path, repeats: int) -> Timing:
    """The score counts per survey, question and value: what the report's main figures rest on, in one statement."""
    statement = (
        "SELECT c.survey_id, a.question_id, a.value, count(*) FROM answer a JOIN conversation c "
        "ON c.id = a.conversation_id WHERE a.value IS NOT NULL GROUP BY 1, 2, 3"
    )
    runs = []
    for _ in range(repeats):
        with sqlite3.connect(path) as connection:
            started, cpu = time.perf_counter(), time.process_time()  # sqlite3 runs in this thread
            connection.execute(statement).fetchall()
            runs.append(Timing(time.perf_counter() - started, time.process_time() - cpu, 0.0))
    return Timing(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs), 0.0)


def project_folder(parent: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A folder set up as a user's: config.example.toml and the shipped surveys, its own SQLite file, migrated."""
    folder = parent / name
    folder.mkdir()
    shutil.copy(ROOT / "config.example.toml", folder / "config.toml")
    (folder / "surveys").symlink_to(ROOT / "surveys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKBOT_")}
    env["FEEDBACKBOT_STORAGE__URL"] = f"sqlite+aiosqlite:///{folder / 'feedback.db'}"
    subprocess.run([FEEDBACKBOT, "db", "upgrade"], cwd=folder, env=env, check=True, capture_output=True)
    return folder, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=1_000_000, help="answers to generate (two per survey taken)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command; the median is printed")
    arguments = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as temporary:
        empty, empty_env = project_folder(Path(temporary), "empty")
        full, env = project_folder(Path(temporary), "full")
        print(f"writing {arguments.answers:,} answers over a year...", flush=True)
        started = time.perf_counter()
        url = f"sqlite:///{full / 'feedback.db'}"
        fill(url, arguments.answers, now)
        print(f"written in {time.perf_counter() - started:.0f} s", flush=True)
        raw = raw_aggregate(full / "feedback.db", arguments.repeats)
        report = [str(FEEDBACKBOT), "report", "--format", "json"]
        start = median_of(arguments.repeats, report, empty, empty_env)
        print(f"\nraw SQL aggregate (sqlite3, one statement): {raw.wall * 1000:.0f} ms (CPU {raw.cpu * 1000:.0f} ms)")
        print(f"feedbackbot report's start, empty database: {start.wall * 1000:.0f} ms (CPU {start.cpu * 1000:.0f} ms)")
        folding = timed(report, full, env)
        print(f"the first report, folding every answer: {folding.wall * 1000:.0f} ms (CPU {folding.cpu * 1000:.0f} ms)")
        print(
            f"{'command (after a day of new answers)':42} {'wall':>8} {'work':>8} {'work/raw':>9} {'CPU work/raw':>13}"
        )
        for extra in ([], ["--by", "week"]):
            command = [*report, *extra]
            run = median_of(arguments.repeats, command, full, env, lambda: add_a_day(url, arguments.answers))
            name = " ".join(["report --format json", *extra])
            work, cpu_ratio = run.wall - start.wall, (run.cpu - start.cpu) / raw.cpu
            print(f"{name:42} {run.wall * 1000:6.0f}ms {work * 1000:6.0f}ms {work / raw.wall:8.1f}x {cpu_ratio:12.1f}x")
        print("(targets: work/raw at most 3.0x; wall under 2,000 ms)")
        recent = (now - YEAR / 10).strftime("%Y-%m-%dT%H:%M:%S")
        print(f"\n{'export':42} {'wall':>8} {'peak RSS':>9}")
        for label, extra in (("every answer", []), ("the last tenth of the year", ["--since", recent])):
            command = [str(FEEDBACKBOT), "export", "--output", str(full / "export.csv"), *extra]
            run = median_of(1, command, full, env)
            print(f"{'export, ' + label:42} {run.wall * 1000:6.0f}ms {run.peak_mb:7.0f}MB")
        print("(target: the same peak for both: streamed, not growing with the rows)")


if __name__ == "__main__":
    main()
