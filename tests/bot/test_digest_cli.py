"""`feedbackbot digest`: the digest now, printed with --preview (its chart written with --png) or queued for the
staff destinations; a bad [digest] setting is one line naming the key."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from handlers.cli import app
from tests.conftest import ROOT

TELEGRAM = {"FEEDBACKBOT_TELEGRAM__TOKEN": "123456:test-token", "FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID": "-100777"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the shipped surveys and an upgraded SQLite database, as an operator's would be."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("FEEDBACKBOT_")]:
        monkeypatch.delenv(name)
    assert invoke("db", "upgrade")[0] == 0
    return tmp_path


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_preview_prints_the_digest_and_writes_its_chart(workdir: Path) -> None:
    code, stdout, _ = invoke("digest", "--preview", "--png", "chart.png")

    assert code == 0
    assert stdout.startswith("Weekly digest, ")
    assert "No answers this week or the week before." in stdout
    with Image.open(io.BytesIO((workdir / "chart.png").read_bytes())) as image:
        image.verify()
        assert image.format == "PNG"


def test_the_digest_is_queued_for_the_staff_chat(workdir: Path) -> None:
    code, stdout, _ = invoke("digest", env=TELEGRAM)

    assert (code, stdout.strip()) == (0, "digest queued for telegram -100777")
    with sqlite3.connect(workdir / "feedback.db") as connection:
        queued = connection.execute("SELECT channel, kind, status FROM outboxmessage").fetchall()
    assert queued == [("telegram", "staff_digest", "pending")]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "feedbackbot: no staff destination: set [digest] destinations or a channel's staff chat or channel"),
        (
            {"FEEDBACKBOT_DIGEST__DESTINATIONS": '{"slack": "C0123"}'},
            "feedbackbot: [digest] destinations: no configured channel 'slack'",
        ),
        (
            {"FEEDBACKBOT_DIGEST__TIMEZONE": "Mars/Base"},
            "feedbackbot: config.toml: [digest] timezone (FEEDBACKBOT_DIGEST__TIMEZONE): no time zone 'Mars/Base': "
            "an IANA name such as 'Europe/Berlin'",
        ),
    ],
)
def test_a_digest_with_nowhere_to_go_or_a_bad_setting_is_refused(
    workdir: Path, env: dict[str, str], message: str
) -> None:
    code, _, stderr = invoke("digest", env=env)
    assert (code, stderr.strip()) == (2, message)
