"""Slack's hot path: block actions per second of `feedbackbot run` against a bare bolt app that only acknowledges, and
a bolt app that answers each press as a hand-written bot would.

Run: `.venv/bin/python bench/slack_hotpath.py` (part of `make bench`, which runs it under scripts/with-postgres so that
feedbackbot is measured on PostgreSQL as well; without FEEDBACKBOT_TEST_POSTGRES_URL it measures SQLite only).

Every bot is a real process of its own, one at a time, against one loopback fake Slack Web API in another process
(bench/fake_slack_api.py, the tests' spec-checking FakeSlack), whose employees post signed block_actions requests to
the bot's POST /slack/events:
- bench/baselines/bare_bolt_app.py, a slack-bolt AsyncApp on bolt's aiohttp server whose one listener acknowledges;
- bench/baselines/answering_bolt_app.py, the same app whose listeners acknowledge, then make feedbackbot's Web API
  calls for the press through slack_sdk's AsyncWebClient (Start: chat.postMessage of the question; a score:
  chat.update of the pressed message, chat.postMessage of the next question), storing nothing;
- `feedbackbot run` with the shipped config.example.toml and surveys, its Slack channel pointed at the fake, on
  SQLite (and PostgreSQL).
Each employee presses Start of the csat survey on App Home, then the lowest score of the question the bot posts in the
DM; feedbackbot stores each press, acknowledges it, then posts (the question; the pressed buttons replaced by the
score, and the next question). An employee's next press waits for the bot's message (the bare app's: for the
acknowledgement), and a new employee starts when one finishes.

Columns: block actions/s with --employees at once for --seconds; process CPU per action (user + system time of the
bot's process, read from /proc, over that run; the fake's, employees included, in brackets); p50/p99 of a press's
wait (press to the awaited message) with --latency-employees at once; Web API calls per action. Then each bot's calls
per action by method with the mean size of their arguments (as the fake logged them), and the ratios of actions/s:
the answering app's and feedbackbot's to the bare app's (target at least 0.5), feedbackbot's to the answering app's.
--profile DIR records each feedbackbot process under the throughput load with py-spy
(`.venv/bin/pip install -e '.[profile]'`) into DIR/feedbackbot-DATABASE.txt and prints where its CPU goes. The default
run takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_slack_api import serve
from hotpath import FEEDBACKBOT, ROOT, cpu_seconds, free_port, fresh_postgres_database, start_profiler, stop
from profile_summary import summarize

BASELINES = ROOT / "bench" / "baselines"
WARM_UP_SECONDS = 2.0  # employees through the flow before anything is measured: imports, caches, first connections
START_SECONDS = 60.0


@dataclass
class Result:
    name: str
    database: str
    actions_per_second: float = 0.0
    cpu_ms_per_action: float = 0.0
    fake_cpu_ms_per_action: float = 0.0
    calls_per_action: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)  # per action, by Web API method
    payloads: dict[str, int] = field(default_factory=dict)  # mean bytes of a call's JSON arguments, by method
    latencies: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


class Fake:
    """The fake Slack process and its pipe."""

    def __init__(self) -> None:
        self.connection, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=serve, args=(child,), daemon=True)
        self.process.start()
        self.base_url, self.token, self.signing_secret = self.connection.recv()
        assert self.process.pid is not None
        self.pid = self.process.pid

    def phase(self, url: str, flow: str, concurrency: int, seconds: float) -> dict[str, Any]:
        self.connection.send(("phase", url, flow, concurrency, seconds))
        result: dict[str, Any] = self.connection.recv()
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=10)


@dataclass
class Bot:
    """One bot to measure: how to start it, on which port, and what its employees wait for."""

    name: str
    database: str
    command: list[str]
    port: int
    flow: str = "survey"
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}-{self.database}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def launch(self) -> subprocess.Popen[bytes]:
        """Starts the bot and waits until it accepts connections."""
        with self.log.open("wb") as log:
            env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKBOT_")} | self.env
            process = subprocess.Popen(self.command, cwd=self.workdir, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return process
            except OSError:
                time.sleep(0.1)
        stop(process)
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {START_SECONDS:g} s")


def measure(bot: Bot, fake: Fake, arguments: argparse.Namespace) -> Result:
    """Warm-up, the latency run, then the throughput run (profiled when asked), in one process of the bot."""
    process = bot.launch()
    result = Result(bot.name, bot.database)
    try:
        fake.phase(bot.url, bot.flow, arguments.latency_employees, WARM_UP_SECONDS)
        waits = fake.phase(bot.url, bot.flow, arguments.latency_employees, arguments.seconds / 2)
        result.latencies = waits["latencies"]
        profile = profile_file(bot, arguments.profile)
        profiler = start_profiler(process.pid, profile) if profile is not None else None
        cpu, fake_cpu = cpu_seconds(process.pid), cpu_seconds(fake.pid)
        run = fake.phase(bot.url, bot.flow, arguments.employees, arguments.seconds)
        cpu, fake_cpu = cpu_seconds(process.pid) - cpu, cpu_seconds(fake.pid) - fake_cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        actions = run["presses"]
        result.actions_per_second = actions / run["elapsed"]
        result.cpu_ms_per_action = cpu / actions * 1000
        result.fake_cpu_ms_per_action = fake_cpu / actions * 1000
        result.calls_per_action = sum(run["calls"].values()) / actions
        result.calls = {method: count / actions for method, count in run["calls"].items()}
        result.payloads = run["payloads"]
    except RuntimeError:
        print(*bot.log.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
        raise
    finally:
        stop(process)
    return result


def profile_file(bot: Bot, folder: Path | None) -> Path | None:
    """Where feedbackbot's profile goes; None: not profiled (the bare app never is)."""
    if folder is None or bot.name != "feedbackbot":
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"feedbackbot-{bot.database}.txt"


def bolt_app(name: str, script: str, flow: str, fake: Fake, workdir: Path) -> Bot:
    """A baseline bolt app of bench/baselines."""
    port = free_port()
    command = [sys.executable, str(BASELINES / script), str(port), fake.base_url, fake.token, fake.signing_secret]
    return Bot(name, "-", command, port, flow, workdir=workdir)


def feedbackbot(database: str, url: str, workdir: Path, fake: Fake) -> Bot:
    """`feedbackbot run` as shipped: config.example.toml and surveys/, its Slack channel on, in HTTP mode."""
    folder = workdir / f"feedbackbot-{database}-{time.monotonic_ns()}"
    folder.mkdir()
    shutil.copy(ROOT / "config.example.toml", folder / "config.toml")
    (folder / "surveys").symlink_to(ROOT / "surveys")
    port = free_port()
    env = {
        "FEEDBACKBOT_STORAGE__URL": url or f"sqlite+aiosqlite:///{folder / 'feedback.db'}",
        "FEEDBACKBOT_SLACK__BOT_TOKEN": fake.token,
        "FEEDBACKBOT_SLACK__SIGNING_SECRET": fake.signing_secret,
        "FEEDBACKBOT_SLACK__API_BASE_URL": fake.base_url,
        "FEEDBACKBOT_SERVER__PORT": str(port),
    }
    subprocess.run([FEEDBACKBOT, "db", "upgrade"], cwd=folder, env=os.environ | env, check=True, capture_output=True)
    return Bot("feedbackbot", database, [str(FEEDBACKBOT), "run"], port, env=env, workdir=folder)


def bots_named(name: str, fake: Fake, workdir: Path, postgres: str) -> list[Bot]:
    if name == "bare":
        return [bolt_app("bare bolt", "bare_bolt_app.py", "ack", fake, workdir)]
    if name == "answering":
        return [bolt_app("answering bolt", "answering_bolt_app.py", "survey", fake, workdir)]
    if name == "feedbackbot":
        on_postgres = [feedbackbot("PostgreSQL", fresh_postgres_database(postgres), workdir, fake)] if postgres else []
        return [feedbackbot("SQLite", "", workdir, fake), *on_postgres]
    raise SystemExit(f"--bots: no bot {name!r}; bare, answering or feedbackbot")


def report(results: list[Result], arguments: argparse.Namespace) -> None:
    print(
        f"\n{arguments.employees} employees at once for {arguments.seconds:g} s for actions/s and CPU; "
        f"{arguments.latency_employees} at once for the wait (press to the awaited message; the bare app: its "
        "acknowledgement). CPU: the bot's process only (the fake's, employees included, in brackets)."
    )
    print(f"{'bot':<14} {'database':<10} {'actions/s':>9} {'CPU/action':>16} {'p50':>9} {'p99':>9} {'calls/act':>9}")
    for r in results:
        print(
            f"{r.name:<14} {r.database:<10} {r.actions_per_second:9.0f} "
            f"{r.cpu_ms_per_action:6.2f} ms ({r.fake_cpu_ms_per_action:4.2f}) "
            f"{r.percentile(0.5):6.1f} ms {r.percentile(0.99):6.1f} ms {r.calls_per_action:9.2f}"
        )
    for r in results:
        calls = ", ".join(f"{m} {n:.2f} ({r.payloads[m]} B)" for m, n in sorted(r.calls.items()))
        print(f"{r.name} ({r.database}) Web API calls per action (mean arguments' JSON): {calls or 'none'}")
    by_name = {r.name: r for r in results}
    bare, answering = by_name.get("bare bolt"), by_name.get("answering bolt")
    if bare is not None and answering is not None:
        print_ratio(answering, bare, " (what any bot that answers the press reaches; target >= 0.5)")
    for r in results:
        if r.name == "feedbackbot" and bare is not None:
            print_ratio(r, bare, " (target >= 0.5)")
        if r.name == "feedbackbot" and answering is not None:
            print_ratio(r, answering)


def print_ratio(r: Result, base: Result, target: str = "") -> None:
    print(
        f"{r.name} ({r.database}) / {base.name}: block actions/s {r.actions_per_second / base.actions_per_second:.2f}"
        f"{target}, CPU per action {r.cpu_ms_per_action / base.cpu_ms_per_action:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employees", type=int, default=50, help="employees at once for the throughput run")
    parser.add_argument("--latency-employees", type=int, default=10, help="employees at once for the wait")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput run (latency: half)")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's collapsed stacks of feedbackbot")
    parser.add_argument("--bots", default="bare,answering,feedbackbot", help="which to run, comma-separated")
    arguments = parser.parse_args()
    postgres = os.environ.get("FEEDBACKBOT_TEST_POSTGRES_URL", "")
    fake = Fake()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as folder:
        workdir = Path(folder)
        for name in arguments.bots.split(","):
            for bot in bots_named(name, fake, workdir, postgres):
                print(f"measuring {bot.name} ({bot.database})...", flush=True)
                results.append(measure(bot, fake, arguments))
        report(results, arguments)
    fake.close()
    for profile in sorted(arguments.profile.glob("feedbackbot-*.txt")) if arguments.profile else ():
        summarize(profile)


if __name__ == "__main__":
    main()
