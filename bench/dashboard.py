"""The dashboard with a million answers, served by a real `feedbackbot run`: how long its pages take to arrive.

Run: `.venv/bin/python bench/dashboard.py [--answers N]` (part of `make bench`). It fills a SQLite database as
bench/report_scale.py does (a million answers over a year, two per survey taken, a case for each lowest score),
folds them into the daily tallies with one `feedbackbot report` (timed), writes a day's share more, as if a report
ran every day, starts `feedbackbot run` on it with a dashboard user and no chat channel (it then serves HTTP alone),
and asks each page over loopback HTTP, logged in: first when the page counts its report (target for the first page:
under 1 s), with the bot's CPU time for it (steadier than wall time on a busy machine), then the median of --repeat
more, which the dashboard answers from the report it keeps for a minute. One raw SQL aggregate over the same rows,
measured in the same run, is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from hotpath import FEEDBACKBOT, free_port, stop
from report_scale import add_a_day, fill, project_folder, raw_aggregate
from report_scale import timed as timed_command

USER, PASSWORD = "bench", "bench-password-0123"
PAGES = (
    "/dashboard/",  # the last 12 weeks of every survey
    "/dashboard/?survey=csat&by=week",
    "/dashboard/?since=",  # every answer
    "/dashboard/cases",
)


def served(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """Waits until the bot answers /healthz."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("feedbackbot run did not answer /healthz within 60 s")


def timed(client: httpx.Client, page: str) -> float:
    started = time.perf_counter()
    client.get(page).raise_for_status()
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """The user and system time a process has used (Linux): what a page cost the bot, however busy the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_with_cpu(client: httpx.Client, page: str, pid: int) -> tuple[float, float]:
    """The page's wall time, and the bot's CPU time while it made it."""
    cpu = cpu_seconds(pid)
    return timed(client, page), cpu_seconds(pid) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=1_000_000, help="answers to generate (two per survey taken)")
    parser.add_argument("--repeat", type=int, default=3, help="requests of each page after its first")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as temporary:
        folder, env = project_folder(Path(temporary), "dashboard")
        started = time.perf_counter()
        url = f"sqlite:///{folder / 'feedback.db'}"
        fill(url, arguments.answers, datetime.now(UTC))
        print(f"{arguments.answers:,} answers written in {time.perf_counter() - started:.0f} s (SQLite)", flush=True)
        print(
            f"raw SQL aggregate (sqlite3, one statement): {raw_aggregate(folder / 'feedback.db', 3).wall * 1000:.0f} ms"
        )
        folding = timed_command([str(FEEDBACKBOT), "report", "--format", "json"], folder, env)
        print(f"every answer folded by one feedbackbot report: {folding.wall * 1000:.0f} ms")
        add_a_day(url, arguments.answers)
        port = free_port()
        env |= {f"FEEDBACKBOT_DASHBOARD__USERS__{USER.upper()}": PASSWORD, "FEEDBACKBOT_SERVER__PORT": str(port)}
        with (folder / "bot.log").open("wb") as log:
            process = subprocess.Popen(
                [FEEDBACKBOT, "run"], cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            served(base_url, process)
            with httpx.Client(base_url=base_url, auth=(USER, PASSWORD), timeout=120) as client:
                print(f"{'page':<40} {'counted':>9} {'its CPU':>8} {'again':>8}")
                for page in PAGES:
                    first, cpu = timed_with_cpu(client, page, process.pid)
                    again = statistics.median(timed(client, page) for _ in range(arguments.repeat))
                    print(f"{page:<40} {first * 1000:7.0f}ms {cpu * 1000:6.0f}ms {again * 1000:6.0f}ms")
        finally:
            stop(process)
    print("(target: the first page, counted, under 1,000 ms)")


if __name__ == "__main__":
    main()
