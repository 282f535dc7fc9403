"""The answer path's cost inside the engine, in figures the machine's load does not move: statements and, under
valgrind, instructions per update.

Run: `.venv/bin/python bench/engine_cost.py [--customers N] [DATABASE_URL]` (SQLite in a temporary folder unless
a URL is given; PostgreSQL: `scripts/with-postgres sh -c '.venv/bin/python bench/engine_cost.py
"$FEEDBACKBOT_TEST_POSTGRES_URL"'`).
Each customer does what bench/hotpath.py's do, on the engine alone (no channel, no Bot API): `/start csat`, the
lowest score (a case opens), a comment; each reply is recorded as delivered. Twenty customers at a time, after
twenty to warm up. Printed: statements per update by their first word, and the CPU per update.

A diagnostic beside bench/hotpath.py, whose real processes give the figures of record: on a shared machine their
CPU per update moves by half from run to run, the instructions counted here by a few per mille. Instructions per
update: run it under callgrind at two sizes and divide the difference of the totals by the difference of the
updates (3 per customer), which takes out the start-up:
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.20 .venv/bin/python bench/engine_cost.py --customers 20
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.100 .venv/bin/python bench/engine_cost.py --customers 100
    (instructions of /tmp/cg.100 - those of /tmp/cg.20, from `callgrind_annotate FILE | grep PROGRAM`) / 240
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.engine import Engine
from bot.events import ChoiceAnswer, Respondent, StartSurvey, TextAnswer
from bot.outbound import SendResult, Sent
from bot.prompts import QuestionPrompt
from bot.replies import Replies
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import load_surveys
from storage.db import Database
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
AT_ONCE = 20
COMMENT = "the delivery was late and the box broken"


async def delivered() -> SendResult:
    return Sent()


class Customers:
    """Customers taking the csat survey through the engine, each reply recorded as delivered."""

    def __init__(self, engine: Engine, replies: Replies) -> None:
        self.engine = engine
        self.replies = replies
        self.updates = 0

    async def take_survey(self, name: str) -> None:
        who = Respondent("telegram", name, "en")
        started = await self._update(StartSurvey(who, f"{name}-start", "csat"))
        question = next(prompt for prompt in started if isinstance(prompt, QuestionPrompt))
        await self._update(ChoiceAnswer(who, f"{name}-score", question.conversation_id, question.question_id, "1"))
        await self._update(TextAnswer(who, f"{name}-comment", COMMENT, f"1:{name}"))

    async def _update(self, event: Any) -> list[Any]:
        reply = await self.engine.handle(event)
        await self.replies.send("telegram", event.event_id, [delivered], to=event.who, redelivered=False)
        self.updates += 1
        return reply.prompts

    async def in_groups(self, prefix: str, count: int) -> None:
        for first in range(0, count, AT_ONCE):
            names = [f"{prefix}{number}" for number in range(first, min(first + AT_ONCE, count))]
            await asyncio.gather(*(self.take_survey(name) for name in names))


async def measure(url: str, customers: int) -> None:
    database = Database(url)
    await upgrade(database)
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    engine = Engine(database=database, surveys=load_surveys(ROOT / "surveys"), analyzer=analyzer, hash_key=b"bench")
    crowd = Customers(engine, Replies(database, engine.keys.respondent_key))
    await crowd.in_groups("warm", AT_ONCE)
    statements: Counter[str] = Counter()

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements[statement.split()[0]] += 1

    crowd.updates = 0
    started = time.process_time()
    await crowd.in_groups("customer", customers)
    cpu = time.process_time() - started
    per_update = {word: round(count / crowd.updates, 2) for word, count in statements.most_common()}
    print(f"{database.engine.dialect.name}: {crowd.updates} updates, {cpu / crowd.updates * 1000:.2f} ms of CPU each")
    print(f"statements per update: {sum(statements.values()) / crowd.updates:.2f} {per_update}")
    await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="the database (default: SQLite in a temporary folder)")
    parser.add_argument("--customers", type=int, default=300, help="customers measured, after the warm-up")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(arguments.url or f"sqlite+aiosqlite:///{folder}/engine.db", arguments.customers))


if __name__ == "__main__":
    main()
