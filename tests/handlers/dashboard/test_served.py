"""`feedbackbot run` serves the dashboard to the users of its configuration, and keeps their passwords out of its
log."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import FEEDBACKBOT, bot_process, free_port
from tests.handlers.dashboard.conftest import LOGIN, PASSWORD, USER


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_serves_the_dashboard_to_its_users(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    settings = {
        "FEEDBACKBOT_SERVER__PORT": str(port),
        f"FEEDBACKBOT_DASHBOARD__USERS__{USER.upper()}": PASSWORD,
        "FEEDBACKBOT_LOGGING__LEVEL": "DEBUG",
    }
    base_url = f"http://127.0.0.1:{port}"
    # No chat channel and no terminal: the bot serves HTTP until SIGTERM.
    with bot_process(tmp_path, database_url, (FEEDBACKBOT, "run"), **settings) as bot:
        assert bot.wait_for_health(port) is not None, bot.stderr()
        refused = httpx.get(f"{base_url}/dashboard/")
        shown = httpx.get(f"{base_url}/dashboard/", headers=LOGIN)
        bot.process.send_signal(signal.SIGTERM)
        assert bot.process.wait(timeout=60) == 0, bot.stderr()
        log = bot.stderr()
    assert refused.status_code == 401
    assert shown.status_code == 200 and "Customer satisfaction (csat)" in shown.text
    assert "dashboard on /dashboard for 1 users" in log
    assert PASSWORD not in log
