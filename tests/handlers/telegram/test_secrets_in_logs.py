"""A real `feedbackbot run` on the fake Bot API, logging everything: the bot token is in none of its lines."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT
from tests.fakes.telegram_api import FakeTelegram

FEEDBACKBOT = str(Path(sys.executable).parent / "feedbackbot")
CUSTOMER = 5550001


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(workdir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:  # the child keeps its own handle
        return subprocess.Popen([FEEDBACKBOT, "run"], cwd=workdir, env=env, stdout=output, stderr=output)


def stop(bot: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, so that the lines of the shutdown are written too."""
    bot.send_signal(signal.SIGINT)
    try:
        bot.wait(timeout=30)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.wait()


WEBHOOK = {
    "FEEDBACKBOT_TELEGRAM__MODE": "webhook",
    "FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET": "webhook-secret-for-the-log-test",
    "FEEDBACKBOT_SERVER__PUBLIC_URL": "https://bot.example.com",
}


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_no_log_line_holds_a_secret_even_at_debug(
    fake_telegram: FakeTelegram, sqlite_template: Path, tmp_path: Path, mode: str, log_format: str
) -> None:
    shutil.copy(sqlite_template, tmp_path / "feedback.db")
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")} | {
        "FEEDBACKBOT_TELEGRAM__TOKEN": fake_telegram.token,
        "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake_telegram.base_url,
        "FEEDBACKBOT_SERVER__PORT": str(free_port()),
        "FEEDBACKBOT_LOGGING__LEVEL": "DEBUG",
        "FEEDBACKBOT_LOGGING__FORMAT": log_format,
    }
    env |= WEBHOOK if mode == "webhook" else {}
    log = tmp_path / "bot.log"
    bot = launch(tmp_path, env, log)
    try:
        if mode == "webhook":  # the secret goes to Telegram with setWebhook
            await fake_telegram.wait_for(lambda: fake_telegram.calls_of("setWebhook"), timeout=30)
        else:
            fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", "csat"))
            await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(CUSTOMER), timeout=30)
            await fake_telegram.wait_for(lambda: len(fake_telegram.calls_of("getUpdates")) > 3, timeout=30)
    finally:
        stop(bot)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any("DEBUG" in line for line in lines)
    assert any("/bot[redacted]/" in line for line in lines)  # the Bot API calls were logged, redacted
    secrets = [fake_telegram.token, WEBHOOK["FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET"]]
    forms = [form for secret in secrets for form in (secret, quote(secret, safe=""))]
    assert [line for line in lines if any(form in line for form in forms)] == []
