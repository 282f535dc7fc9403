"""A real `feedbackbot run` on the fake Bot API with `[logging] format = "json"`: every line is a JSON object, and the
lines of one update, its reply's send and the case alert the outbox sends for it carry that update's id."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import STAFF_CHAT, bot_environment, running_bot

CUSTOMER = 5550002
COMPLAINT = "The courier threw my parcel over the fence"


def under(entries: list[dict[str, Any]], correlation_id: str) -> list[str]:
    return [entry["message"] for entry in entries if entry.get("correlation_id") == correlation_id]


async def test_json_lines_carry_the_correlation_id_of_the_update_through_to_its_sends(
    fake_telegram: FakeTelegram, sqlite_template: Path, tmp_path: Path
) -> None:
    env = bot_environment(
        fake_telegram,
        FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID=str(STAFF_CHAT),
        FEEDBACKBOT_LOGGING__LEVEL="DEBUG",
        FEEDBACKBOT_LOGGING__FORMAT="json",
    )
    with running_bot(tmp_path, sqlite_template, env) as log:
        start = fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", "csat"))
        await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(CUSTOMER), timeout=30)
        complaint = fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "complain", COMPLAINT))
        await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT), timeout=30)
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
