"""`feedbackbot pulses list` and `pulses rerun`: each pulse's schedule as the database holds it, in its own zone."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from handlers.cli import app
from storage import schedule
from storage.db import Database
from storage.schedule import JobTimes
from tests.conftest import ROOT, run_aside

CONFIG = """
[[pulses]]
name = "weekly"
survey = "internal-service"
cron = "0 9 * * MON"
timezone = "Europe/Berlin"
recipients = [{ channel = "slack", members_of = "C0DEPT" }]

[[pulses]]
name = "monthly"
survey = "csat"
cron = "0 10 1 * *"
recipients = [{ channel = "telegram", segment = { plan = "pro" } }]
enabled = false
"""
MISSED_MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 CET


@pytest.fixture
def operator_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An operator's folder with the shipped surveys, two pulses configured and the test database."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("FEEDBACKBOT_")]:
        monkeypatch.delenv(name)
    return {"FEEDBACKBOT_STORAGE__URL": database_url}


def pulses(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["pulses", *args], env=env)


def weekly_job(database_url: str, *, set_to: JobTimes | None = None) -> JobTimes:
    """The weekly pulse's schedule row, after setting it if asked, read on a loop of its own."""

    async def work() -> JobTimes:
        database = Database(database_url)
        try:
            async with database.transaction() as session:
                if set_to is not None:
                    await schedule.plan(session, job="pulse:weekly", due_at=set_to.due_at)
                    await schedule.claim_run(session, job="pulse:weekly", now=set_to.due_at, next_due=set_to.due_at)
                return (await schedule.jobs_named(session, names=["pulse:weekly"]))["pulse:weekly"]
        finally:
            await database.close()

    return run_aside(work())


def job_rows(database_url: str) -> dict[str, JobTimes]:
    """Every pulse's rows, read on a loop of their own."""

    async def work() -> dict[str, JobTimes]:
        database = Database(database_url)
        try:
            async with database.snapshot() as session:
                return await schedule.jobs_named(session, names=["pulse:weekly", "pulse:weekly:run"])
        finally:
            await database.close()

    return run_aside(work())


def test_pulses_list_shows_each_pulse_with_its_next_time_in_its_zone_and_its_last_run(
    operator_env: dict[str, str], database_url: str
) -> None:
    before = pulses(operator_env, "list")
    assert before.exit_code == 0, before.stderr
    weekly, monthly = (line.split() for line in before.stdout.splitlines())
    assert weekly[:9] == ["weekly", "internal-service", "0", "9", "*", "*", "MON", "Europe/Berlin", "next"]
    assert weekly[-2:] == ["last", "never"]  # planned from its cron: no process ran it yet
    assert monthly[-5:] == ["UTC", "next", "disabled", "last", "never"]

    weekly_job(database_url, set_to=JobTimes(MISSED_MONDAY, None))  # run at 09:00 CET, then left due (as a failed run)
    after = pulses(operator_env, "list")
    assert "next 2026-11-30 09:00 CET" in after.stdout.splitlines()[0]
    assert after.stdout.splitlines()[0].endswith("last 2026-11-30 08:00 UTC")


def test_pulses_rerun_leaves_the_latest_times_run_for_the_bot_to_take_up(
    operator_env: dict[str, str], database_url: str
) -> None:
    made = pulses(operator_env, "rerun", "weekly")
    assert made.exit_code == 0, made.stderr
    assert made.stderr.startswith("pulse weekly due again for its time ")
    [(name, (held_until, occurrence))] = job_rows(database_url).items()
    assert name == "pulse:weekly:run" and held_until <= datetime.now(UTC)  # for the next round to take up
    assert occurrence is not None and occurrence <= held_until
    assert (occurrence.weekday(), occurrence.minute) == (0, 0) and occurrence.hour in (7, 8)  # Monday 09:00, Berlin
    local = occurrence.astimezone(ZoneInfo("Europe/Berlin"))
    listed = pulses(operator_env, "list").stdout.splitlines()[0]
    assert listed.endswith(f", run of {local:%Y-%m-%d} 09:00 {local:%Z} unfinished")  # until the bot takes it up


@pytest.mark.parametrize(
    ("name", "refusal"),
    [("daily", "no pulse 'daily'; the pulses are weekly, monthly"), ("monthly", "pulse monthly is disabled")],
)
def test_pulses_rerun_refuses_an_unknown_or_disabled_pulse(
    operator_env: dict[str, str], name: str, refusal: str
) -> None:
    refused = pulses(operator_env, "rerun", name)
    assert refused.exit_code == 2
    assert refusal in refused.stderr
