"""Invitations through the outbox: the rate a campaign reaches at Telegram's limit, and the dispatcher's own ceiling.

Run: `scripts/with-postgres .venv/bin/python bench/outbox_rate.py [--invitations N]` (part of `make bench`; it needs
the PostgreSQL server that scripts/with-postgres starts). On a fresh PostgreSQL database it makes N Telegram people
known to the bot, then for each phase writes a campaign to all of them with `feedbackbot campaign send` and lets real
`feedbackbot run` processes (polling) send it to the loopback fake Bot API of bench/fake_bot_api.py:
- at the limit: the fake refuses (429) any sendMessage past 30 in a second, as Telegram does overall; the bot runs
  with its shipped limits and the campaign at `--rate 29`. Printed: the rate reached, as a share of the limit
  (target at least 95 %), and the 429s (target none);
- the ceiling: no limit anywhere (the fake's, [telegram] max_messages_per_second and per_chat_interval lifted, the
  campaign's rate far above), with one process and then two on the same database. Printed: messages per second
  (target at least 1,000 with two processes);
- the sender floor ("sender", "sender2"): as many sendMessage calls to the same fake, without limit, by
  bench/baselines/ptb_sender.py, a minimal python-telegram-bot sender with no database, as many in flight as the
  dispatcher (16), one process and then two at once (half each); then ("sender-aio", "sender2-aio") the same on
  feedbackbot's aiohttp transport rather than the library's default httpx one. Printed beside the ceiling: what a
  python-telegram-bot sender reaches on this machine.
Each rate is (sends - 1) / (last send - first send), timed by the fake. Beside it, per message from the first send
to the end: the CPU of the bot processes together, of the PostgreSQL backends serving them and of the fake, and the
database's transactions (the senders: their own CPU from their go to their last answer, as they report it, and the
fake's). On a shared machine the rate follows the load, the CPU much less.
--profile DIR records each bot process of the ceiling phases with py-spy (`.venv/bin/pip install -e '.[profile]'`)
into DIR/PHASE-N.txt and prints where its CPU goes. --phases runs only those named.
With N = 10,000 the run takes about 20 minutes, most of it the 30 messages/s phase; --invitations 2000
gives the same figures in a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

from fake_bot_api import TOKEN
from hotpath import FEEDBACKBOT, ROOT, Fake, cpu_seconds, fresh_postgres_database, start_profiler, stop
from profile_summary import summarize
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(ROOT))

from storage.models import Person
from storage.types import utcnow

TELEGRAM_LIMIT = 30  # messages per second, overall
# The campaign's rate at the limit: a hair under it, since the fake counts every send of any trailing second strictly
# and sends spaced exactly 1/30 s apart would put a 31st in some second now and then.
CAMPAIGN_RATE = 29
QUIET = 5.0  # seconds without a send after which a phase's campaign is taken as sent
FIRST_CHAT = 5_000_000
PHASES = (  # name, processes
    ("limit", 1),
    ("ceiling", 1),
    ("ceiling2", 2),
    ("sender", 1),
    ("sender2", 2),
    ("sender-aio", 1),
    ("sender2-aio", 2),
)
PTB_SENDER = ROOT / "bench" / "baselines" / "ptb_sender.py"
LIFTED = {
    "FEEDBACKBOT_TELEGRAM__MAX_MESSAGES_PER_SECOND": "1e6",
    "FEEDBACKBOT_TELEGRAM__PER_CHAT_INTERVAL": "1e-6",
}


async def known_people(url: str, count: int) -> None:
    """`count` people who started the bot on Telegram: the only ones a bot may write to first."""
    engine = create_async_engine(url)
    now = utcnow()
    rows = [
        {"channel": "telegram", "platform_id": str(FIRST_CHAT + n), "opted_out": False, "unreachable": False}
        | {"created_at": now}
        for n in range(count)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(Person), rows)
    await engine.dispose()


def project(folder: Path, url: str, fake: Fake) -> dict[str, str]:
    """The folder of a user's install (config.example.toml, the shipped surveys) and its environment."""
    folder.mkdir()
    (folder / "config.toml").write_text((ROOT / "config.example.toml").read_text())
    (folder / "surveys").symlink_to(ROOT / "surveys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKBOT_")}
    return env | {
        "FEEDBACKBOT_STORAGE__URL": url,
        "FEEDBACKBOT_TELEGRAM__TOKEN": TOKEN,
        "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
        "FEEDBACKBOT_SERVER__PORT": "0",
    }


def campaign(folder: Path, env: dict[str, str], name: str, people: range, rate: float) -> float:
    """Writes the campaign to `people` (numbers of the known people); returns the seconds `campaign send` took."""
    recipients = folder / f"{name}.csv"
    recipients.write_text("channel,platform_id\n" + "".join(f"telegram,{FIRST_CHAT + n}\n" for n in people))
    started = time.perf_counter()
    command = [FEEDBACKBOT, "campaign", "send", "--survey", "csat", "--recipients", str(recipients), "--rate"]
    subprocess.run([*command, str(rate)], cwd=folder, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


@contextmanager
def bots(folder: Path, env: dict[str, str], count: int, profile: Path | None) -> Iterator[list[int]]:
    """`count` `feedbackbot run` processes on the same database, recorded by py-spy into `profile`-N.txt if given;
    their pids. Stopped on leaving, then their profiles summed up."""
    processes, profilers = [], []
    for number in range(count):
        with (folder / f"bot-{number}.log").open("wb") as log:
            processes.append(subprocess.Popen([FEEDBACKBOT, "run"], cwd=folder, env=env, stdout=log, stderr=log))
        if profile is not None:
            profilers.append(start_profiler(processes[-1].pid, profile.with_name(f"{profile.name}-{number}.txt")))
    try:
        yield [process.pid for process in processes]
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        for process in processes:
            stop(process)
        for number in range(len(profilers)):
            assert profile is not None
            summarize(profile.with_name(f"{profile.name}-{number}.txt"), top=25)


@dataclass
class Run:
    rate: float  # messages per second
    sent: int
    refused: int  # 429s
    cpu_ms: dict[str, float]  # per message: the bot processes together, PostgreSQL's backends, the fake
    transactions: float  # per message, committed or rolled back on the database


@dataclass
class Usage:
    """What the processes of a run have used so far."""

    cpu: dict[str, float]
    transactions: int

    @staticmethod
    def now(url: str, bots: list[int], fake: Fake) -> Usage:
        transactions, backends = asyncio.run(database_usage(url))
        database_cpu = sum(cpu_seconds(pid) for pid in backends if Path(f"/proc/{pid}").exists())
        bots_cpu = sum(cpu_seconds(pid) for pid in bots)
        return Usage({"bots": bots_cpu, "PostgreSQL": database_cpu, "fake": cpu_seconds(fake.pid)}, transactions)


async def database_usage(url: str) -> tuple[int, list[int]]:
    """The transactions the database has ended, and the process ids of its backends now connected to it (those of a
    run's bots live as long as their pools' connections)."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        ended = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        transactions = (await connection.execute(text(ended))).scalar_one()
        backends = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        pids = (await connection.execute(text(backends))).scalars().all()
    await engine.dispose()
    return transactions, list(pids)


def rate_of(fake: Fake, url: str, pids: list[int], timeout: float) -> Run:
    """Waits until the sends stop (none for QUIET seconds after the first) or `timeout` passed; what the run came
    to, its CPU and transactions counted from the first send."""
    deadline = time.monotonic() + timeout
    sent_at, refused = fake.ask("sends")
    while not sent_at and time.monotonic() < deadline:
        time.sleep(0.1)
        sent_at, refused = fake.ask("sends")
    counted_from, before = len(sent_at), Usage.now(url, pids, fake)
    while time.monotonic() < deadline and not (sent_at and time.perf_counter() - sent_at[-1] > QUIET):
        time.sleep(0.5)
        sent_at, refused = fake.ask("sends")
    after = Usage.now(url, pids, fake)
    if len(sent_at) < 2:
        return Run(0.0, len(sent_at), refused, {}, 0.0)
    counted = max(len(sent_at) - counted_from, 1)
    cpu_ms = {name: (after.cpu[name] - before.cpu[name]) * 1000 / counted for name in after.cpu}
    rate = (len(sent_at) - 1) / (sent_at[-1] - sent_at[0])
    return Run(rate, len(sent_at), refused, cpu_ms, (after.transactions - before.transactions) / counted)


def phase(
    fake: Fake, folder: Path, env: dict[str, str], name: str, people: range, processes: int, profile: Path | None
) -> str:
    """One campaign to `people`, sent by `processes` bots: at Telegram's limit (`name` "limit") or with none."""
    limited = name == "limit"
    fake.ask("limit", TELEGRAM_LIMIT if limited else None)
    written = campaign(folder, env, name, people, CAMPAIGN_RATE if limited else 1e6)
    if profile is not None and not limited:
        profile.mkdir(parents=True, exist_ok=True)
    profile = None if limited or profile is None else profile / name
    with bots(folder, env if limited else env | LIFTED, processes, profile) as pids:
        run = rate_of(fake, env["FEEDBACKBOT_STORAGE__URL"], pids, timeout=len(people) / 10 + 120)
    share = f" ({100 * run.rate / TELEGRAM_LIMIT:.1f} % of the limit)" if limited else ""
    return (
        f"{name:11} {processes} process{'es' if processes > 1 else '  '}: {len(people)} invitations,"
        f" {run.sent} messages,"
        f" {run.rate:7.1f} msg/s{share}, {run.refused} 429s; per message: CPU "
        + ", ".join(f"{ms:.2f} ms ({name})" for name, ms in run.cpu_ms.items())
        + f", {run.transactions:.1f} transactions; the campaign written in {written:.0f} s"
    )


def sender_phase(fake: Fake, name: str, messages: int, processes: int) -> str:
    """`messages` sendMessage calls by `processes` bench/baselines/ptb_sender.py at once (each its share), no limit
    anywhere, no database: what any python-telegram-bot sender reaches on this machine."""
    fake.ask("limit", None)
    share = messages // processes
    transport = "aiohttp" if name.endswith("-aio") else "httpx"
    command = [sys.executable, str(PTB_SENDER), TOKEN, fake.base_url]
    senders = [
        subprocess.Popen(
            [*command, str(FIRST_CHAT + n * share), str(share), transport], stdin=PIPE, stdout=PIPE, text=True
        )
        for n in range(processes)
    ]
    for sender in senders:  # each has its bot initialised before any sends
        assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
    fake_cpu = cpu_seconds(fake.pid)
    for sender in senders:
        assert sender.stdin is not None
        sender.stdin.write("go\n")
        sender.stdin.flush()
    cpu = sum(float(sender.communicate(timeout=share / 10 + 120)[0]) for sender in senders)
    fake_cpu = cpu_seconds(fake.pid) - fake_cpu
    sent_at, refused = fake.ask("sends")
    rate = (len(sent_at) - 1) / (sent_at[-1] - sent_at[0])
    return (
        f"{name:11} {processes} process{'es' if processes > 1 else '  '}: python-telegram-bot's Bot on {transport},"
        " no database,"
        f" {len(sent_at)} messages, {rate:7.1f} msg/s, {refused} 429s; per message: CPU"
        f" {cpu * 1000 / len(sent_at):.2f} ms (senders), {fake_cpu * 1000 / len(sent_at):.2f} ms (fake)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitations", type=int, default=10_000, help="invitations in each phase")
    names = [name for name, _ in PHASES]
    parser.add_argument("--phases", nargs="+", choices=names, default=names, help="the phases to run (default all)")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's collapsed stacks of the ceiling phases")
    arguments = parser.parse_args()
    server = os.environ.get("FEEDBACKBOT_TEST_POSTGRES_URL")
    if not server:
        sys.exit("outbox_rate.py needs PostgreSQL: run it under scripts/with-postgres")
    url = fresh_postgres_database(server)
    fake = Fake()
    try:
        subprocess.run([FEEDBACKBOT, "db", "upgrade"], env=os.environ | {"FEEDBACKBOT_STORAGE__URL": url}, check=True)
        phases = tuple((name, processes) for name, processes in PHASES if name in arguments.phases)
        count = arguments.invitations
        asyncio.run(known_people(url, count * len(phases)))
        with tempfile.TemporaryDirectory(prefix="bench-outbox-") as temporary:
            for number, (name, processes) in enumerate(phases):  # new people each phase: nobody's survey replaced
                if name.startswith("sender"):
                    print(sender_phase(fake, name, count, processes), flush=True)
                    continue
                folder = Path(temporary) / name
                people = range(number * count, (number + 1) * count)
                environment = project(folder, url, fake)
                print(phase(fake, folder, environment, name, people, processes, arguments.profile), flush=True)
    finally:
        fake.close()
    print(
        "(targets: at the limit at least 95 % and no 429; the ceiling with two processes at least 1,000 msg/s; the"
        " sender phases: the same sends by a minimal python-telegram-bot sender, what any reaches on this machine)"
    )


if __name__ == "__main__":
    main()
