"""A real `feedbackbot run` on the fake Bot API with `[logging] format = "json"`: every line is a JSON object, and the
lines of one update, its reply's send and the case alert the outbox sends for it carry that update's id."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import FEEDBACKBOT, ROOT, free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import STAFF_CHAT

CUSTOMER = 5550002
COMPLAINT = "The courier threw my parcel over the fence"


def run_bot(workdir: Path, fake: FakeTelegram, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")} | {
        "FEEDBACKBOT_TELEGRAM__TOKEN": fake.token,
        "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
        "FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID": str(STAFF_CHAT),
        "FEEDBACKBOT_SERVER__PORT": str(free_port()),
        "FEEDBACKBOT_LOGGING__LEVEL": "DEBUG",
        "FEEDBACKBOT_LOGGING__FORMAT": "json",
    }
    with log.open("wb") as output:  # the child keeps its own handle
        return subprocess.Popen([FEEDBACKBOT, "run"], cwd=workdir, env=env, stdout=output, stderr=output)


def stop(bot: subprocess.Popen[bytes]) -> None:
    bot.send_signal(signal.SIGTERM)
    try:
        bot.wait(timeout=30)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.wait()


def under(entries: list[dict[str, Any]], correlation_id: str) -> list[str]:
    return [entry["message"] for entry in entries if entry.get("correlation_id") == correlation_id]


async def test_json_lines_carry_the_correlation_id_of_the_update_through_to_its_sends(
    fake_telegram: FakeTelegram, sqlite_template: Path, tmp_path: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "feedback.db")
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    log = tmp_path / "bot.log"
    bot = run_bot(tmp_path, fake_telegram, log)
    try:
        start = fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", "csat"))
        await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(CUSTOMER), timeout=30)
        complaint = fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "complain", COMPLAINT))
        await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT), timeout=30)
    finally:
        stop(bot)
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]  # each line parses

    assert all(datetime.fromisoformat(entry["time"]).utcoffset() is not None for entry in entries)
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    first, second = f"telegram-{start}", f"telegram-{complaint}"
    assert f"telegram update {start} handled (message)" in under(entries, first)
    assert f"telegram update {complaint} handled (message)" in under(entries, second)
    for update in (first, second):  # the inline reply, sent while the update was handled
        assert any("/sendMessage" in message for message in under(entries, update))
    # The case alert, queued while the complaint was handled and sent later by the outbox's dispatcher.
    assert any(message.startswith("outbox: telegram case_alert message") for message in under(entries, second))
    assert not any("case_alert" in message for message in under(entries, first))
    # No customer's words at INFO or above.
    assert [entry for entry in entries if entry["level"] != "DEBUG" and "courier" in json.dumps(entry)] == []
