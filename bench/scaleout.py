"""Scale-out: two `feedbackbot run` processes in webhook mode on one PostgreSQL against one process.

Run: `scripts/with-postgres .venv/bin/python bench/scaleout.py` (part of `make bench`; it needs the PostgreSQL server
that scripts/with-postgres starts). The loopback fake Bot API of bench/fake_bot_api.py posts each update, with the
webhook secret, to the bots' `/telegram/webhook` in turn, as a load balancer in front of them would; its customers
take the survey as in bench/hotpath.py (`/start csat`, the lowest score, a comment), --customers at once. The bots
run the shipped config.example.toml and surveys with Telegram's limits lifted, on one fresh PostgreSQL database.
Printed for one process and for two: updates/s, the bots' CPU per update (all processes together) and the reply time,
then the throughput ratio of two processes to one (target at least 1.5 with 2 cores). The fake and PostgreSQL share
the same cores, so the ratio is what a 2-core machine gives, all of it on one host. --profile DIR records the single
process's run with py-spy (as bench/hotpath.py --profile does) into DIR/feedbackbot-webhook.txt and prints where its
CPU goes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from hotpath import (
    WARM_UP,
    Bot,
    Fake,
    Result,
    cpu_seconds,
    feedbackbot,
    free_port,
    fresh_postgres_database,
    start_profiler,
    stop,
)
from profile_summary import summarize

SECRET = "bench-webhook-secret"
FLOW = "survey"
STEPS = 3  # a customer's updates in the survey flow


def webhook_bot(url: str, workdir: Path, fake: Fake, number: int) -> tuple[Bot, int]:
    """`feedbackbot run` in webhook mode on its own port, as shipped but for the limits hotpath.py lifts too."""
    bot = feedbackbot("postgresql", url, workdir, fake)
    port = free_port()
    bot.name = f"feedbackbot-{number}"
    bot.env |= {
        "FEEDBACKBOT_TELEGRAM__MODE": "webhook",
        "FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET": SECRET,
        "FEEDBACKBOT_SERVER__PORT": str(port),
    }
    return bot, port


def launch(bot: Bot, port: int) -> subprocess.Popen[bytes]:
    """Starts the bot and waits until its HTTP server answers /healthz."""
    with bot.log.open("wb") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACKBOT_")} | bot.env
        process = subprocess.Popen(bot.command, cwd=bot.workdir, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    print(*bot.log.read_text(errors="replace").splitlines()[-30:], sep="\n", file=sys.stderr)
    raise RuntimeError(f"{bot.name} did not answer /healthz within 60 s")


def measure(processes: int, url: str, workdir: Path, fake: Fake, customers: int, profile: Path | None) -> Result:
    """Warm-up, then the measured run; `profile`: where py-spy records the first process's run, if anywhere."""
    bots = [webhook_bot(url, workdir, fake, number) for number in range(processes)]
    running = [launch(bot, port) for bot, port in bots]
    result = Result(f"{processes} process{'es' if processes > 1 else ''}", "postgresql")
    try:
        fake.ask("webhooks", [f"http://127.0.0.1:{port}/telegram/webhook" for _, port in bots], SECRET)
        fake.phase(FLOW, WARM_UP * processes, WARM_UP // 2 * processes)
        profiler = start_profiler(running[0].pid, profile) if profile is not None else None
        cpu = sum(cpu_seconds(process.pid) for process in running)
        run = fake.phase(FLOW, customers, customers)
        cpu = sum(cpu_seconds(process.pid) for process in running) - cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        updates = customers * STEPS
        result.updates_per_second = updates / run["elapsed"]
        result.cpu_ms_per_update = cpu / updates * 1000
        result.latencies = run["latencies"]
    finally:
        fake.ask("webhooks", [], "")
        for process in running:
            stop(process)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=400, help="customers at once")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's collapsed stacks of the single process")
    arguments = parser.parse_args()
    postgres = os.environ.get("FEEDBACKBOT_TEST_POSTGRES_URL")
    if not postgres:
        sys.exit("bench/scaleout.py needs PostgreSQL: run it under scripts/with-postgres")
    fake = Fake()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as folder:
            url = fresh_postgres_database(postgres)  # `feedbackbot db upgrade` makes its schema (hotpath.feedbackbot)
            results = []
            profile = None
            if arguments.profile:
                arguments.profile.mkdir(parents=True, exist_ok=True)
                profile = arguments.profile / "feedbackbot-webhook.txt"
            for processes in (1, 2):
                print(f"measuring {processes} webhook process(es) on PostgreSQL...", flush=True)
                profiled = profile if processes == 1 else None
                results.append(measure(processes, url, Path(folder), fake, arguments.customers, profiled))
    finally:
        fake.close()
    print(f"\n{'feedbackbot, webhook mode, PostgreSQL':<40}{'updates/s':>11}{'CPU/update':>12}{'p50':>9}{'p99':>9}")
    for result in results:
        print(
            f"{result.name:<40}{result.updates_per_second:>11.0f}{result.cpu_ms_per_update:>10.2f}ms"
            f"{result.percentile(0.5):>7.0f}ms{result.percentile(0.99):>7.0f}ms"
        )
    ratio = results[1].updates_per_second / results[0].updates_per_second
    print(f"two processes / one: {ratio:.2f}x throughput (target at least 1.5x with 2 cores)")
    if profile is not None:
        summarize(profile)


if __name__ == "__main__":
    main()
