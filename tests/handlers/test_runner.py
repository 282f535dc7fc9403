"""`feedbackbot run` as an operator starts it: a port that is taken is one line naming the key that moves it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import run_to_its_end


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
