"""`feedbackbot run` serves the dashboard to the users of its configuration, and keeps their passwords out of its
log."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import FEEDBACKBOT, ROOT, free_port
from tests.handlers.dashboard.conftest import LOGIN, PASSWORD, USER

STARTED_SECONDS = 30  # the longest wait for the bot to answer; a wait, not a measure


def answering(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_serves_the_dashboard_to_its_users(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    env |= {
        "FEEDBACKBOT_STORAGE__URL": database_url,
        "FEEDBACKBOT_SERVER__PORT": str(port),
        f"FEEDBACKBOT_DASHBOARD__USERS__{USER.upper()}": PASSWORD,
        "FEEDBACKBOT_LOGGING__LEVEL": "DEBUG",
    }
    base_url = f"http://127.0.0.1:{port}"
    # The terminal channel runs (no chat channel is configured) until its stdin closes.
    bot = subprocess.Popen(
        [FEEDBACKBOT, "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + STARTED_SECONDS
        while not answering(base_url) and bot.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        refused = httpx.get(f"{base_url}/dashboard/")
        shown = httpx.get(f"{base_url}/dashboard/", headers=LOGIN)
    finally:
        _, log = bot.communicate(input=b"", timeout=STARTED_SECONDS)
    assert bot.returncode == 0, log
    assert refused.status_code == 401
    assert shown.status_code == 200 and "Customer satisfaction (csat)" in shown.text
    assert b"dashboard on /dashboard for 1 users" in log
    assert PASSWORD.encode() not in log
