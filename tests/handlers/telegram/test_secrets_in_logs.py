"""A real `feedbackbot run` on the fake Bot API, logging everything: the bot token is in none of its lines."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import bot_environment, running_bot

CUSTOMER = 5550001

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
    env = bot_environment(fake_telegram, FEEDBACKBOT_LOGGING__LEVEL="DEBUG", FEEDBACKBOT_LOGGING__FORMAT=log_format)
    env |= WEBHOOK if mode == "webhook" else {}
    with running_bot(tmp_path, sqlite_template, env, stop_with=signal.SIGINT) as log:  # Ctrl-C: its lines too
        if mode == "webhook":  # the secret goes to Telegram with setWebhook
            await fake_telegram.wait_for(lambda: fake_telegram.calls_of("setWebhook"), timeout=30)
        else:
            fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", "csat"))
            await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(CUSTOMER), timeout=30)
            await fake_telegram.wait_for(lambda: len(fake_telegram.calls_of("getUpdates")) > 3, timeout=30)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any("DEBUG" in line for line in lines)
    assert any("/bot[redacted]/" in line for line in lines)  # the Bot API calls were logged, redacted
    secrets = [fake_telegram.token, WEBHOOK["FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET"]]
    forms = [form for secret in secrets for form in (secret, quote(secret, safe=""))]
    assert [line for line in lines if any(form in line for form in forms)] == []
