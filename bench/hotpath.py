"""The answer's hot path: `feedbackbot run` against the bot a team would write by hand, and the bare echo bot.

Run: `.venv/bin/python bench/hotpath.py` (part of `make bench`, which runs it under scripts/with-postgres so that
feedbackbot is measured on PostgreSQL as well; without FEEDBACKBOT_TEST_POSTGRES_URL it measures SQLite only).

Every bot is a real process of its own against one loopback fake Bot API in another process (bench/fake_bot_api.py),
one bot at a time:
- bench/baselines/echo_bot.py, python-telegram-bot's bare echo bot (echobot.py): each customer sends three texts;
- bench/baselines/handwritten_survey_bot.py, a ConversationHandler survey with sqlite3 and TextBlob;
- `feedbackbot run` with the shipped config.example.toml and surveys, polling, on SQLite (and PostgreSQL).
The survey customers do what a new user does: `/start csat`, press the lowest score (the button the bot sent), type a
comment. Each waits for the bot's reply before the next step; a new customer starts when one finishes.

Telegram's limits are lifted for all three: the PTB baselines have no rate limiter, feedbackbot gets
[telegram] max_messages_per_second = 1e6 and per_chat_interval = 1e-6 (the figures are what the bot can process;
the latency run lifts them too: a customer's three sends fit the shipped per-chat burst anyway). The baselines handle
updates one at a time, as the library's examples do (see their docstrings for why).

Columns: updates/s with --customers at once; process CPU per update (user + system time of the bot's process, read
from /proc, over that run); p50/p99 of the reply time (a step to the reply it waits for) with --latency-customers at
once; Bot API calls per update. Then the resident memory of a feedbackbot process before and after --open-surveys
customers started a survey and left it open, and where it went. That process is `feedbackbot run` started through
bench/traced_feedbackbot.py, a launcher that installs two signal handlers and calls the console script's entry point:
on SIGUSR1 it reports, on SIGUSR2 it starts tracemalloc, which slows every allocation 10 to 30 times, so only the last
2 x TRACED_SHARE of the open surveys are traced, with a report between the two halves. Printed: the growth split into
Python allocations (what the last half of the traced surveys added to what tracemalloc holds, by library and by line,
per survey, and times the open surveys), tracemalloc's own bookkeeping, SQLite's own allocations, malloc's free bytes
it holds, and the rest; the caches the process holds and what bounds each; and the heap's largest containers (a
structure growing with the open surveys shows there with a length near their number).
--profile DIR records each feedbackbot process under the throughput load with py-spy
(`.venv/bin/pip install -e '.[profile]'`) into DIR/feedbackbot-DATABASE.txt and prints where its CPU goes (its pauses
slow the profiled rows of the table). The default run takes 3 to 4 minutes on 2 cores, half of
it the 5,000 open surveys (--open-surveys 0: none; 100,000 take about a quarter of an hour).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_bot_api import FLOWS, TOKEN, serve
from profile_summary import summarize

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "bench" / "baselines"
FEEDBACKBOT = Path(sys.executable).with_name("feedbackbot")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LATENCY_TURNS = 10  # customers each slot of the latency run serves in turn: 10 x 10 x 3 replies for the p99
TRACED_SHARE = 0.01  # of the open surveys, twice, the last ones, traced by tracemalloc (slowing them 10 to 30 times)
WARM_UP = 20  # customers through the flow before anything is measured: imports, caches, first connections


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for process {pid}")


@dataclass
class Result:
    name: str
    database: str
    updates_per_second: float = 0.0
    cpu_ms_per_update: float = 0.0
    fake_cpu_ms_per_update: float = 0.0
    calls_per_update: float = 0.0
    latencies: list[float] = field(default_factory=list)
    resident_mb: float = 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


class Fake:
    """The fake Bot API process and its pipe."""

    def __init__(self) -> None:
        self.connection, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=serve, args=(child,), daemon=True)
        self.process.start()
        self.base_url: str = self.connection.recv()
        self.chats = 1_000_000  # every phase has customers new to the bot
        assert self.process.pid is not None
        self.pid = self.process.pid

    def ask(self, *command: Any) -> Any:
        self.connection.send(command)
        return self.connection.recv()

    def phase(self, flow: str, total: int, concurrency: int) -> dict[str, Any]:
        first_chat, self.chats = self.chats, self.chats + total
        timeout = 60 + total * len(FLOWS[flow]) / 5
        result: dict[str, Any] = self.ask("phase", flow, total, concurrency, first_chat, timeout)
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=10)


@dataclass
class Bot:
    """One bot to measure: how to start it, and which flow its customers follow."""

    name: str
    database: str
    command: list[str]
    flow: str = "survey"
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}-{self.database}.log"

    def launch(self, fake: Fake) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as log:
            env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKBOT_")} | self.env
            process = subprocess.Popen(self.command, cwd=self.workdir, env=env, stdout=log, stderr=log)
        if not fake.ask("poll", 60.0):
            stop(process)
            raise RuntimeError(f"{self.name} did not poll within 60 s")
        return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(bot: Bot, fake: Fake, arguments: argparse.Namespace) -> Result:
    """Warm-up, the latency run, then the throughput run (profiled when asked), in one process of the bot."""
    process = bot.launch(fake)
    result = Result(bot.name, bot.database)
    try:
        fake.phase(bot.flow, WARM_UP, WARM_UP // 2)
        at_once = arguments.latency_customers
        result.latencies = fake.phase(bot.flow, at_once * LATENCY_TURNS, at_once)["latencies"]
        profile = profile_file(bot, arguments.profile)
        profiler = start_profiler(process.pid, profile) if profile is not None else None
        cpu, fake_cpu = cpu_seconds(process.pid), cpu_seconds(fake.pid)
        run = fake.phase(bot.flow, arguments.customers, arguments.customers)
        cpu, fake_cpu = cpu_seconds(process.pid) - cpu, cpu_seconds(fake.pid) - fake_cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        updates = arguments.customers * len(FLOWS[bot.flow])
        result.updates_per_second = updates / run["elapsed"]
        result.cpu_ms_per_update = cpu / updates * 1000
        result.fake_cpu_ms_per_update = fake_cpu / updates * 1000
        result.calls_per_update = sum(n for m, n in run["calls"].items() if m != "getUpdates") / updates
        result.resident_mb = resident_mb(process.pid)
    except RuntimeError:
        print(*bot.log.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
        raise
    finally:
        stop(process)
    return result


def profile_file(bot: Bot, folder: Path | None) -> Path | None:
    """Where feedbackbot's profile goes; None: not profiled (the baselines never are)."""
    if folder is None or bot.name != "feedbackbot":
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"feedbackbot-{bot.database}.txt"


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy, sampling the bot's Python stacks by function (not by line) into collapsed stacks."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        sys.exit("--profile needs py-spy: .venv/bin/pip install -e '.[profile]'")
    # Without --nonblocking: py-spy pauses the bot for each sample (slowing the profiled run a little), since
    # reading a running process's stacks failed for a sixth of the samples and cut others short.
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--function", "--rate", "200"]
    profiler = subprocess.Popen([*command, "--output", str(output)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return profiler


def feedbackbot(database: str, url: str, workdir: Path, fake: Fake) -> Bot:
    """`feedbackbot run` as shipped: config.example.toml and surveys/, a token, polling; limits lifted."""
    folder = workdir / f"feedbackbot-{database}-{time.monotonic_ns()}"
    folder.mkdir()
    shutil.copy(ROOT / "config.example.toml", folder / "config.toml")
    (folder / "surveys").symlink_to(ROOT / "surveys")
    env = {
        "FEEDBACKBOT_STORAGE__URL": url or f"sqlite+aiosqlite:///{folder / 'feedback.db'}",
        "FEEDBACKBOT_TELEGRAM__TOKEN": TOKEN,
        "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
        "FEEDBACKBOT_TELEGRAM__MAX_MESSAGES_PER_SECOND": "1e6",
        "FEEDBACKBOT_TELEGRAM__PER_CHAT_INTERVAL": "1e-6",
        "FEEDBACKBOT_SERVER__PORT": "0",
    }
    subprocess.run([FEEDBACKBOT, "db", "upgrade"], cwd=folder, env=os.environ | env, check=True, capture_output=True)
    return Bot("feedbackbot", database, [str(FEEDBACKBOT), "run"], env=env, workdir=folder)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# A bench plays hours of a deployment's traffic in seconds. PostgreSQL plans a statement from its tables' statistics,
# which autovacuum refreshes once a minute by default: tables a bench fills from empty would be read all along with
# plans made for empty tables (a person's open survey found by reading every open one: 1 ms rather than 0.03, and
# twice the server's CPU per message). Refreshed every second, the statistics keep up with the bench as a
# deployment's keep up with its traffic.
AUTOVACUUM_NAPTIME = "1s"


def fresh_postgres_database(url: str) -> str:
    """A new database on the server of `url` (scripts/with-postgres's), so every run starts empty; its statistics
    are kept current (AUTOVACUUM_NAPTIME)."""
    import asyncpg

    name = f"bench_{os.getpid()}_{time.monotonic_ns()}"

    async def create() -> None:
        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
            await connection.execute(f"ALTER SYSTEM SET autovacuum_naptime = '{AUTOVACUUM_NAPTIME}'")
            await connection.execute("SELECT pg_reload_conf()")
        finally:
            await connection.close()

    asyncio.run(create())
    return url.rsplit("/", 1)[0] + "/" + name


@dataclass
class Memory:
    """A feedbackbot's resident MB once it polls, after the warm-up and with the open surveys; bench/
    traced_feedbackbot.py's reports after the warm-up, `traced` surveys before the end (tracing since as many before)
    and at the end."""

    started: float
    before: float
    after: float
    traced: int
    report_before: dict[str, Any]
    report_traced: dict[str, Any]
    report_after: dict[str, Any]


def memory(fake: Fake, workdir: Path, open_surveys: int, at_once: int) -> Memory:
    """A fresh feedbackbot (SQLite, run by bench/traced_feedbackbot.py) through the warm-up, then `open_surveys`
    customers who start a survey and leave it open, the last 2 x TRACED_SHARE of them under tracemalloc, reported
    on halfway: what the last half holds (their own, less what the buffers already traced held) is theirs alone.
    Each report is asked for once the resident size is read: its own allocations, freed, are reused by what follows."""
    bot = feedbackbot("SQLite", "", workdir, fake)
    reports = bot.workdir / "memory-reports"
    reports.mkdir()
    bot.command = [sys.executable, str(ROOT / "bench" / "traced_feedbackbot.py"), str(reports)]
    traced = max(1, int(open_surveys * TRACED_SHARE))
    process = bot.launch(fake)
    try:
        started = resident_mb(process.pid)
        fake.phase("survey", WARM_UP, WARM_UP // 2)
        before = resident_mb(process.pid)
        report_before = signalled(process, signal.SIGUSR1, reports / "1.done")
        fake.phase("open", open_surveys - 2 * traced, at_once)
        signalled(process, signal.SIGUSR2, reports / "tracing")
        fake.phase("open", traced, at_once)
        report_traced = signalled(process, signal.SIGUSR1, reports / "2.done")
        fake.phase("open", traced, at_once)
        after = resident_mb(process.pid)
        report_after = signalled(process, signal.SIGUSR1, reports / "3.done")
        return Memory(started, before, after, traced, report_before, report_traced, report_after)
    finally:
        stop(process)


def signalled(process: subprocess.Popen[bytes], signum: int, done: Path) -> dict[str, Any]:
    """Signals bench/traced_feedbackbot.py and waits for the file that says it is done; the report it wrote."""
    process.send_signal(signum)
    deadline = time.monotonic() + 300
    while not done.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"bench/traced_feedbackbot.py did not write {done.name} within 300 s")
        time.sleep(0.2)
    report = done.with_suffix(".json")
    return json.loads(report.read_text()) if report.exists() else {}


def short(place: str) -> str:
    """A file:line without the folders every line shares."""
    for prefix in ("/site-packages/", f"{ROOT}/", "/lib/python3."):
        if prefix in place:
            return place.split(prefix, 1)[1].removeprefix(f"{sys.version_info.minor}/")
    return place


def growth(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, float]]:
    """MB each key grew by, largest first. `before` may lack a key (too small to be written): counted as 0."""

    def size(value: Any) -> int:
        return int(value[0] if isinstance(value, list) else value)

    grown = [(key, (size(value) - size(before.get(key, 0))) / 2**20) for key, value in after.items()]
    return sorted(grown, key=lambda pair: -pair[1])


def print_memory(memory: Memory, open_surveys: int) -> None:
    grown = memory.after - memory.before
    print(
        f"feedbackbot (SQLite) resident memory: {memory.started:.0f} MB polling, {memory.before:.0f} MB after the "
        f"warm-up ({WARM_UP} surveys answered), {memory.after:.0f} MB with {open_surveys} surveys open: "
        f"+{grown:.0f} MB ({grown * 2**20 / open_surveys:.0f} bytes per open survey)"
    )
    before, traced, after = memory.report_before, memory.report_traced["python"], memory.report_after
    native = dict(growth(before["native"], after["native"]))
    per_survey = 2**20 / memory.traced  # MB grown over the last traced surveys -> bytes per survey
    python = (after["python"]["traced"] - traced["traced"]) / 2**20 * open_surveys / memory.traced
    rest = grown - python - native["tracemalloc"] - native["sqlite"] - native["malloc_free_held"]
    libraries = growth(traced["by_library"], after["python"]["by_library"])
    lines = growth(traced["by_line"], after["python"]["by_line"])
    print(f"where the +{grown:.1f} MB go:")
    print(
        f"  tracemalloc's own bookkeeping (the traced surveys only; no plain `feedbackbot run` has it) "
        f"{native['tracemalloc']:+.1f} MB"
    )
    by_library = ", ".join(f"{k} {mb * per_survey:.0f}" for k, mb in libraries[:8])
    print(
        f"  Python allocations: the last {memory.traced} surveys held {python * 2**20 / open_surveys:.0f} bytes each"
        f" more, x {open_surveys} = {python:+.1f} MB; bytes per survey by library: {by_library}"
    )
    print("    by line: " + ", ".join(f"{short(k)} {mb * per_survey:.0f}" for k, mb in lines[:8]))
    print(f"  SQLite's own allocations (page caches, statements; sqlite3_memory_used) {native['sqlite']:+.1f} MB")
    print(f"  malloc's free bytes it holds (fragmentation; mallinfo2) {native['malloc_free_held']:+.1f} MB")
    print(f"  the rest (pymalloc's free pools, C libraries' own allocations, pages touched) {rest:+.1f} MB")
    print(f"caches with {open_surveys} surveys open, and what bounds them:")
    for cache, count in Counter(after["caches"]).items():
        print(f"  {cache}" + (f" (x{count})" if count > 1 else ""))
    print("largest containers in the heap (length, MB with their items):")
    for owner, kind, length, size in after["containers"][:8]:
        print(f"  {owner} ({kind}): {length}, {size / 2**20:.1f} MB")


def report(results: list[Result], arguments: argparse.Namespace) -> None:
    print(
        f"\n{arguments.customers} customers at once for updates/s and CPU; {arguments.latency_customers} at once for "
        "the reply time (step to awaited reply). CPU: the bot's process only (fake's in brackets)."
    )
    print(f"{'bot':<22} {'database':<10} {'updates/s':>9} {'CPU/update':>15} {'p50':>8} {'p99':>8} {'calls/upd':>9}")
    for r in results:
        print(
            f"{r.name:<22} {r.database:<10} {r.updates_per_second:9.0f} "
            f"{r.cpu_ms_per_update:6.2f} ms ({r.fake_cpu_ms_per_update:4.2f}) "
            f"{r.percentile(0.5):5.0f} ms {r.percentile(0.99):5.0f} ms {r.calls_per_update:9.2f}"
        )
    rss = ", ".join(f"{r.name} ({r.database}) {r.resident_mb:.0f} MB" for r in results)
    print(f"resident memory after the runs: {rss}")
    by_name = {(r.name, r.database): r for r in results}
    handwritten, echo = by_name.get(("hand-written survey", "sqlite3")), by_name.get(("echo", "-"))
    if handwritten is None or echo is None:
        return  # the ratios need both baselines
    for r in results:
        if r.name != "feedbackbot":
            continue
        print(
            f"feedbackbot ({r.database}) / hand-written: "
            f"throughput {r.updates_per_second / handwritten.updates_per_second:.2f}"
            f" (goal >= 1.0), CPU per update {r.cpu_ms_per_update / handwritten.cpu_ms_per_update:.2f} (goal <= 1.0),"
            f" p50 {r.percentile(0.5) - handwritten.percentile(0.5):+.0f} ms (goal <= +20 ms);"
            f" / echo: throughput {r.updates_per_second / echo.updates_per_second:.2f} (goal >= 0.5)"
        )


def bots_named(name: str, fake: Fake, workdir: Path, postgres: str) -> list[Bot]:
    if name == "echo":
        command = [sys.executable, str(BASELINES / "echo_bot.py"), TOKEN, fake.base_url]
        return [Bot("echo", "-", command, "echo", workdir=workdir)]
    if name == "handwritten":
        script = str(BASELINES / "handwritten_survey_bot.py")
        command = [sys.executable, script, TOKEN, fake.base_url, str(workdir / "handwritten.db")]
        return [Bot("hand-written survey", "sqlite3", command, workdir=workdir)]
    if name == "feedbackbot":
        on_postgres = [feedbackbot("PostgreSQL", fresh_postgres_database(postgres), workdir, fake)] if postgres else []
        return [feedbackbot("SQLite", "", workdir, fake), *on_postgres]
    raise SystemExit(f"--bots: no bot {name!r}; echo, handwritten or feedbackbot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200, help="customers at once for the throughput run")
    parser.add_argument("--latency-customers", type=int, default=10, help="customers at once for the reply time")
    parser.add_argument("--open-surveys", type=int, default=5000, help="open surveys for the memory figure; 0: none")
    parser.add_argument("--open-at-once", type=int, default=200, help="customers starting a survey at once")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's collapsed stacks of feedbackbot")
    parser.add_argument("--bots", default="echo,handwritten,feedbackbot", help="which to run, comma-separated")
    arguments = parser.parse_args()
    postgres = os.environ.get("FEEDBACKBOT_TEST_POSTGRES_URL", "")
    fake = Fake()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as folder:
        workdir = Path(folder)
        for name in arguments.bots.split(","):
            for bot in bots_named(name, fake, workdir, postgres):
                print(f"measuring {bot.name} ({bot.database})...", flush=True)
                results.append(measure(bot, fake, arguments))
        report(results, arguments)
        if arguments.open_surveys:
            print(f"measuring feedbackbot's memory with {arguments.open_surveys} open surveys...", flush=True)
            print_memory(memory(fake, workdir, arguments.open_surveys, arguments.open_at_once), arguments.open_surveys)
    fake.close()
    for profile in sorted(arguments.profile.glob("feedbackbot-*.txt")) if arguments.profile else ():
        summarize(profile)


if __name__ == "__main__":
    main()
