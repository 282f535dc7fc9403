"""`feedbackbot run` as an operator starts it: a port that is taken is one line naming the key that moves it; with
no chat channel and no terminal (systemd, a container) it serves HTTP until SIGTERM."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import FEEDBACKBOT, bot_process, free_port, run_to_its_end


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_taken_port_is_one_line_naming_the_key_and_exit_status_2(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = run_to_its_end(tmp_path, database_url, FEEDBACKBOT_SERVER__PORT=str(port))
    assert process.returncode == 2
    assert process.stderr.splitlines() == [
        f"feedbackbot: [server] port: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another with [server] port or FEEDBACKBOT_SERVER__PORT"
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_without_a_channel_or_a_terminal_serves_http_until_sigterm(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    settings = {"FEEDBACKBOT_SERVER__PORT": str(port), "FEEDBACKBOT_API__KEYS__CRM": "crm-secret-0123456789"}
    with bot_process(tmp_path, database_url, [FEEDBACKBOT, "run"], **settings) as bot:  # stdin: /dev/null
        health = bot.wait_for_health(port)
        assert health is not None and health.status_code == 200, bot.stderr()
        responses = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/responses",
            headers={"Authorization": "Bearer crm-secret-0123456789"},
            timeout=10,
        )
        assert (responses.status_code, responses.json()) == (200, {"data": [], "next_cursor": None})
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200  # still serving
        bot.process.send_signal(signal.SIGTERM)
        assert bot.process.wait(timeout=60) == 0, bot.stderr()
    stderr = bot.stderr()
    assert "no telegram or slack channel configured and no terminal: serving HTTP until stopped" in stderr
    assert "starting the terminal channel" not in stderr
