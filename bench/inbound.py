"""Inbound throughput: a customer's answer through the whole bot (inbox, engine, sentiment, storage, reply)
against a bare python-telegram-bot echo bot, on the same machine and the same loopback fake Bot API.

Run: `.venv/bin/python bench/inbound.py` (also part of `make bench`). The fake runs in a child process, so the
measured process holds only the bot. Customers answer in a closed loop: each sends their next answer when the
bot's reply to the previous one arrives, as people do. Runs alternate (echo, feedbackbot, echo, ...) and the
median of each is compared, since this 2-core machine is shared and noisy.

Telegram's own limits (30 messages/s overall, about 1/s per chat) are lifted for both bots here: the figure is
what the bot can process, not what Telegram lets through.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes lives beside the packages

from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.app import Core  # noqa: E402
from bot.cases import CaseDesk, Cases  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer  # noqa: E402
from bot.surveys import load_surveys  # noqa: E402
from handlers.telegram import delivery  # noqa: E402
from handlers.telegram.channel import TelegramChannel  # noqa: E402
from handlers.telegram.settings import TelegramSettings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

ANSWERS = ["The courier was late and rude", "Quick refund, thank you", "The app keeps crashing at checkout"]
BENCH_SURVEY = """title = { en = "Bench" }
thank_you = { en = "Thanks!" }
expiry_hours = 1000
""" + "".join(f'[[questions]]\nid = "q{n}"\nkind = "text"\ntext = {{ en = "Question {n}?" }}\n' for n in range(9))


def fake_process(connection: Connection) -> None:
    """The fake Bot API in its own process: loads a closed-loop plan on request and reports timings."""
    asyncio.run(serve_fake(connection))


async def serve_fake(connection: Connection) -> None:
    loop = asyncio.get_running_loop()
    async with FakeTelegram(max_poll_timeout=1.0) as fake:
        fake.spec.check = lambda *_: []  # type: ignore[method-assign]  # checked in the tests; here only speed
        connection.send(fake.base_url)
        while (command := await loop.run_in_executor(None, connection.recv)) is not None:
            connection.send(await run_plan(fake, *command))


async def run_plan(fake: FakeTelegram, customers: list[int], texts: list[str], warm_up: str | None) -> Any:
    """Each customer sends `texts` one by one, each after the bot's reply to the previous; returns timings."""
    pending = {chat: list(texts) for chat in customers}
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    send_message = fake._handlers["sendMessage"]

    def next_answer(chat: int) -> None:
        if pending[chat]:
            sent_at[chat] = time.perf_counter()
            fake.push_update(fake.build.text(chat, pending[chat].pop(0)))
        elif not any(pending.values()) and len(latencies) == len(customers) * len(texts):
            done.set()

    def on_send(params: dict[str, Any]) -> Any:
        result = send_message(params)
        chat = params["chat_id"]
        if chat in sent_at:
            latencies.append(time.perf_counter() - sent_at.pop(chat))
            next_answer(chat)
        return result

    if warm_up:  # e.g. /start bench: opens each customer's survey, not timed
        for chat in customers:
            fake.push_update(fake.build.command(chat, "start", warm_up))
        await fake.wait_for(lambda: all(fake.sent_messages(chat) for chat in customers), timeout=60)
    fake._handlers["sendMessage"] = on_send
    started = time.perf_counter()
    for chat in customers:
        next_answer(chat)
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    fake._handlers["sendMessage"] = send_message
    return elapsed, sorted(latencies)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def run_echo(base_url: str, connection: Connection, plan: tuple[Any, ...]) -> Any:
    """The bare echo bot of python-telegram-bot's examples, with concurrent updates (its fastest setting)."""
    application: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(FakeTelegram().token).base_url(base_url).concurrent_updates(True).build()
    )
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        await application.start()
        connection.send(plan)
        result = await asyncio.get_running_loop().run_in_executor(None, connection.recv)
        await application.updater.stop()
        await application.stop()
    return result


async def run_feedbackbot(base_url: str, connection: Connection, plan: tuple[Any, ...], workdir: Path) -> Any:
    """The whole bot on SQLite: inbox, engine, complaint detector, storage, delivery records."""
    surveys_dir = workdir / "surveys"
    surveys_dir.mkdir(exist_ok=True)
    (surveys_dir / "bench.toml").write_text(BENCH_SURVEY, encoding="utf-8")
    database_file = workdir / f"bench-{time.monotonic_ns()}.db"
    settings = Settings(
        storage={"url": f"sqlite+aiosqlite:///{database_file}"},
        surveys={"dir": str(surveys_dir), "default": "bench"},
    )
    telegram = TelegramSettings(token=FakeTelegram().token, api_base_url=base_url, max_messages_per_second=1e6)
    database = Database(settings.storage.url)
    await upgrade(database)
    surveys = load_surveys(surveys_dir)
    desk = CaseDesk()
    engine = Engine(
        database=database,
        surveys=surveys,
        analyzer=make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD),
        hash_key=b"bench",
        desk=desk,
    )
    delivery.PER_CHAT_INTERVAL = 0.0  # Telegram's per-chat pace is lifted here, as the docstring says
    core = Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk))
    channel = TelegramChannel(core, telegram)
    await channel.start()
    try:
        connection.send(plan)
        return await asyncio.get_running_loop().run_in_executor(None, connection.recv)
    finally:
        await channel.stop()
        await database.close()


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--answers", type=int, default=6, help="answers per customer and run")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    fake = multiprocessing.get_context("spawn").Process(target=fake_process, args=(child,), daemon=True)
    fake.start()
    base_url = parent.recv()
    texts = [ANSWERS[n % len(ANSWERS)] for n in range(arguments.answers)]
    results: dict[str, list[tuple[float, list[float]]]] = {"echo": [], "feedbackbot": []}
    with tempfile.TemporaryDirectory() as workdir:
        for round_number in range(arguments.rounds):
            first_chat = 10_000 + round_number * 2 * arguments.customers
            echo_customers = list(range(first_chat, first_chat + arguments.customers))
            bot_customers = list(range(first_chat + arguments.customers, first_chat + 2 * arguments.customers))
            results["echo"].append(asyncio.run(run_echo(base_url, parent, (echo_customers, texts, None))))
            plan = (bot_customers, texts, "bench")
            results["feedbackbot"].append(asyncio.run(run_feedbackbot(base_url, parent, plan, Path(workdir))))
    parent.send(None)
    report(results, arguments.customers * arguments.answers)


def report(results: dict[str, list[tuple[float, list[float]]]], answers: int) -> None:
    rates = {}
    print(f"{answers} answers per run, {len(results['echo'])} runs each; latency = answer to reply")
    for name, runs in results.items():
        rate = statistics.median(answers / elapsed for elapsed, _ in runs)
        latencies = sorted(latency for _, run_latencies in runs for latency in run_latencies)
        rates[name] = rate
        print(
            f"{name:>12}: {rate:8.1f} answers/s (runs: {', '.join(f'{answers / e:.0f}' for e, _ in runs)}); "
            f"latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
        )
    print(f"feedbackbot / echo = {rates['feedbackbot'] / rates['echo']:.2f}  (target >= 0.80)")


if __name__ == "__main__":
    main()
