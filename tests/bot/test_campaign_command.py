"""`feedbackbot campaign send` as an operator runs it: killed (SIGKILL) while it writes, then run again, it invites
every recipient once; `campaign status` shows the funnel."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from typer.testing import CliRunner

from handlers.cli import app
from storage.db import Database
from storage.models import Invitation, OutboxMessage
from tests.conftest import FEEDBACKBOT, ROOT, run_aside

RECIPIENTS = 600


def environment(database_url: str) -> dict[str, str]:
    """Slack configured (it may write first, so no recipient needs to have written to the bot); nothing is sent:
    the running bot would send."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    return kept | {
        "FEEDBACKBOT_STORAGE__URL": database_url,
        "FEEDBACKBOT_SLACK__BOT_TOKEN": "xoxb-test",
        "FEEDBACKBOT_SLACK__SIGNING_SECRET": "signing-secret",
    }


async def written(database: Database) -> tuple[int, int, int]:
    """Invitations, distinct recipients among them, and outbox messages."""
    async with database.snapshot() as session:
        invitations = (await session.exec(select(func.count()).select_from(Invitation))).one()
        recipients = (await session.exec(select(func.count(col(Invitation.idempotency_key).distinct())))).one()
        messages = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    return invitations, recipients, messages


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_campaign_killed_while_writing_resumes_on_the_rerun_and_invites_nobody_twice(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    rows = "".join(f"slack,U{number:05d},ORDER{number}\n" for number in range(RECIPIENTS))
    (tmp_path / "customers.csv").write_text("channel,platform_id,reference\n" + rows, encoding="utf-8")
    command = [FEEDBACKBOT, "campaign", "send", "--survey", "nps", "--recipients", "customers.csv", "--rate", "50"]
    env = environment(database_url)
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while run_aside(written(database))[0] < 50 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait()
    killed_at = run_aside(written(database))
    assert first.returncode == -signal.SIGKILL and 0 < killed_at[0] < RECIPIENTS  # killed in the middle

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert rerun.returncode == 0, rerun.stderr
    assert (
        f"{RECIPIENTS - killed_at[0]} invited\n{killed_at[0]} invited by an earlier run (not again)\n" in rerun.stdout
    )
    assert run_aside(written(database)) == (RECIPIENTS, RECIPIENTS, RECIPIENTS)
    status = subprocess.run(
        [FEEDBACKBOT, "campaign", "status", "customers"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "campaign customers: survey nps, 50/s, from customers.csv" in status.stdout
    listed = subprocess.run(
        [FEEDBACKBOT, "campaign", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert listed.stdout.split()[:2] == ["customers", "nps"]
    assert f"invited {RECIPIENTS}, delivered 0, completed 0" in listed.stdout
    funnel = dict(line.split() for line in status.stdout.splitlines()[1:] if not line.startswith(" "))
    assert funnel == {
        "skipped": "0",
        "invited": str(RECIPIENTS),
        "waiting": str(RECIPIENTS),
        "delivered": "0",
        "started": "0",
        "completed": "0",
        "failed": "0",
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_dry_run_prints_what_would_happen_with_the_invalid_rows_and_writes_nothing(
    database_url: str, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    (tmp_path / "customers.csv").write_text(
        "channel,platform_id,note\nslack,U1,Mrs Pemberton of 12 Elm Street\nslack,\nslack,U1,again\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    arguments = ["campaign", "send", "--survey", "nps", "--recipients", "customers.csv", "--dry-run"]
    result = CliRunner().invoke(app, arguments, env=environment(database_url))
    assert result.exit_code == 1  # rows were invalid
    assert result.stdout == (
        "1 would be invited\n"
        "0 would be skipped by rule\n"
        "0 unreachable\n"
        "0 failed (run again to retry them)\n"
        "2 invalid rows\n"
        "  line 3: 2 cells, but the header names 3 columns\n"
        "  line 4: the same recipient as line 2\n"
    )
    assert run_aside(written(database)) == (0, 0, 0)
    unknown = CliRunner().invoke(app, [*arguments[:3], "nope", *arguments[4:]], env=environment(database_url))
    assert (unknown.exit_code, unknown.stderr.splitlines()[-1]) == (2, "feedbackbot: --survey: no survey 'nope'")
    assert "0/1" not in unknown.stderr  # refused before a progress bar began
