"""The terminal channel and `feedbackbot run`, as real processes driven through stdin, stdout and HTTP."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.engine import Engine
from handlers.console import ConsoleChannel
from storage.db import Database
from storage.models import Answer
from tests.conftest import FEEDBACKBOT, ROOT, free_port, postgres_admin, run_aside, terminal_stdin


@pytest.fixture
def bot_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of an operator's bot process on the test database (migrated), run from a fresh folder."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")}
    return env | {"FEEDBACKBOT_STORAGE__URL": database_url, "LOGNAME": "terminal-tester", "USER": "terminal-tester"}


def feedbackbot(cwd: Path, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEEDBACKBOT, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_whole_survey_in_the_terminal_ends_in_the_export(tmp_path: Path, bot_env: dict[str, str]) -> None:
    assert feedbackbot(tmp_path, bot_env, "db", "upgrade").returncode == 0
    typed = "banana\n2\nThe parcel arrived two weeks late and broken.\n/survey internal-service\n2\n4\n5\nskip\n/quit\n"
    session = feedbackbot(tmp_path, bot_env, "console", stdin=typed)
    assert session.returncode == 0, session.stderr
    out = session.stdout
    assert "How satisfied are you with our service?\n    Type a number" in out
    assert "Type a number from 1 to 5 (1 = Very dissatisfied, 5 = Very satisfied)." in out
    assert "Please answer with a number from 1 to 5." in out
    assert "! We're sorry about this. Case #1 is open" in out
    assert "We're sorry. What went wrong?" in out
    assert "    2) Facilities" in out
    assert "Thanks! Your feedback goes to the team anonymously." in out

    exported = feedbackbot(tmp_path, bot_env, "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(row["survey"], row["question"], row["value"] or row["choice"] or row["text"]) for row in rows] == [
        ("csat", "satisfaction", "2"),
        ("csat", "what_went_wrong", "The parcel arrived two weeks late and broken."),
        ("internal-service", "service", "facilities"),
        ("internal-service", "quality", "4"),
        ("internal-service", "speed", "5"),
        ("internal-service", "comment", ""),
    ]
    assert {row["person"] for row in rows[:2]} == {"terminal-tester"}
    assert {row["person"] for row in rows[2:]} == {""}  # anonymous
    assert float(rows[1]["polarity"]) < 0
    only_internal = feedbackbot(tmp_path, bot_env, "export", "--format", "jsonl", "--survey", "internal-service")
    assert len(only_internal.stdout.splitlines()) == 4


def test_the_first_survey_is_named_in_any_letter_case(tmp_path: Path, bot_env: dict[str, str]) -> None:
    session = feedbackbot(tmp_path, bot_env, "console", "--survey", "NPS", stdin="/quit\n")
    assert session.returncode == 0, session.stderr
    assert "How likely are you to recommend us" in session.stdout
    unknown = feedbackbot(tmp_path, bot_env, "console", "--survey", "nosuch", stdin="/quit\n")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "feedbackbot: --survey: no survey 'nosuch'; available: ces, csat, internal-service, nps",
    )


def wait_for_health(url: str, process: subprocess.Popen[Any]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the HTTP server did not come up")


def test_run_serves_health_and_the_terminal_channel_until_it_quits(tmp_path: Path, bot_env: dict[str, str]) -> None:
    port = free_port()
    env = bot_env | {"FEEDBACKBOT_SERVER__PORT": str(port)}
    with terminal_stdin() as (terminal, type_line):
        process = subprocess.Popen(
            [FEEDBACKBOT, "run"], cwd=tmp_path, env=env, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            health = wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
            assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
            for line in ("5", "skip", "/quit"):
                type_line(line)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
    stdout, stderr = out.decode(), err.decode()
    assert process.returncode == 0, stderr
    assert "no telegram or slack channel configured: starting the terminal channel" in stderr
    assert "Thank you for your feedback!" in stdout


async def typed(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


async def terminal(engine: Engine, *lines: str, first_survey: str = "csat") -> str:
    """What the terminal channel prints for these typed lines."""
    out = io.StringIO()
    await ConsoleChannel(engine, first_survey=first_survey, out=out, user_id="tester").run(typed(*lines))
    return out.getvalue()


async def test_an_unknown_command_gets_the_help_and_is_not_taken_as_an_answer(
    engine: Engine, database: Database
) -> None:
    out = await terminal(engine, "2", "/frobnicate now", "The parcel was late")
    assert "Unknown command: /frobnicate.\nCommands: /survey NAME" in out
    async with database.snapshot() as session:
        assert list(await session.exec(select(Answer.text).where(col(Answer.text).is_not(None)))) == [
            "The parcel was late"
        ]


async def test_skip_typed_as_a_command_still_skips(engine: Engine, database: Database) -> None:
    out = await terminal(engine, "5", "/skip")
    assert "Thank you for your feedback!" in out and "Unknown command" not in out


def help_line(engine: Engine) -> str:
    surveys = ", ".join(engine.catalogue)
    return f"Commands: /survey NAME to start a survey ({surveys}), /complain TEXT, /help, /quit.\n"


async def test_help_shows_the_commands_then_asks_the_open_question_again(engine: Engine) -> None:
    out = await terminal(engine, "/help")
    question = "How satisfied are you with our service?\n    Type a number from 1 to 5"
    ends = "(1 = Very dissatisfied, 5 = Very satisfied).\n"
    assert out.split("> ")[1] == f"{help_line(engine)}{question} {ends}"


async def test_help_without_an_open_survey_shows_only_the_commands(engine: Engine) -> None:
    out = await terminal(engine, "5", "/skip", "/help")
    assert out.split("> ")[-2] == help_line(engine)


async def test_a_survey_name_in_capitals_starts_that_survey(engine: Engine) -> None:
    out = await terminal(engine, "/survey CSAT", first_survey="nps")
    assert "There is no survey" not in out and "How satisfied are you with our service?" in out


async def test_each_line_is_logged_under_a_correlation_id_of_its_own(
    engine: Engine, caplog: pytest.LogCaptureFixture, correlated_records: None
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.engine"):
        await terminal(engine, "/complain The parcel was late", "/complain It was broken too")
    opened = [record for record in caplog.records if "opened" in record.getMessage()]
    ids = [getattr(record, "correlation_id", "") for record in opened]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(re.fullmatch(r"console-[0-9a-f]{8}", correlation_id) for correlation_id in ids)


class Terminal:
    """A bot process typed at line by line, its output collected as it comes (prompts end without a newline)."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self._terminal = ExitStack()  # a terminal, as `run` starts the terminal channel only on one
        terminal, self.type = self._terminal.enter_context(terminal_stdin())
        self.process = subprocess.Popen(
            [FEEDBACKBOT, *args], cwd=cwd, env=env, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.output = b""
        self.closed = False  # the process closed its output: it ended
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            chunk = os.read(self.process.stdout.fileno(), 4096)
            with self._changed:
                self.output += chunk
                self.closed = not chunk
                self._changed.notify_all()
            if self.closed:
                return

    def wait_for(self, text: str) -> str:
        """The output once `text` appeared in it; fails if the process ended first."""
        with self._changed:
            self._changed.wait_for(lambda: text in self.text or self.closed, timeout=30)
        ended = self.process.communicate(timeout=30)[1].decode() if self.closed else "the process is still running"
        assert text in self.text and not self.closed, self.text + ended
        return self.text

    @property
    def text(self) -> str:
        return self.output.decode()

    def quit(self) -> tuple[int, str]:
        """Types /quit; the exit code and standard error."""
        self.type("/quit")
        _, stderr = self.process.communicate(timeout=30)
        self._terminal.close()
        return self.process.returncode, stderr.decode()


def refuse_connections(database_url: str, refused: bool) -> None:
    """Makes the PostgreSQL database refuse every connection (and drops the open ones), or accept them again."""
    name = database_url.rsplit("/", 1)[1]
    run_aside(postgres_admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(not refused).lower()}"))
    if refused:
        run_aside(postgres_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))


OUTAGE_NOTICE = "Sorry, I can't save anything right now, so that was not recorded. Please try again in a moment."
FIRST_QUESTION = "Type a number from 1 to 5"


def stored_scores(tmp_path: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    exported = feedbackbot(tmp_path, env, "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    return [(row["question"], row["value"]) for row in csv.DictReader(io.StringIO(exported.stdout))]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_console_survives_a_database_outage_and_goes_on_when_it_returns(
    tmp_path: Path, bot_env: dict[str, str], database_url: str
) -> None:
    terminal = Terminal(tmp_path, bot_env, "console")
    try:
        terminal.wait_for(FIRST_QUESTION)
        refuse_connections(database_url, refused=True)
        terminal.type("4")
        assert terminal.wait_for(f"{OUTAGE_NOTICE}\n> ").endswith(f"Very satisfied).\n> {OUTAGE_NOTICE}\n> ")
        refuse_connections(database_url, refused=False)
        terminal.type("4")
        terminal.wait_for("Anything we could do better?")
        code, stderr = terminal.quit()
    finally:
        refuse_connections(database_url, refused=False)
        terminal.process.kill()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert stored_scores(tmp_path, bot_env) == [("satisfaction", "4")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_run_keeps_serving_through_a_database_outage_in_the_terminal_channel(
    tmp_path: Path, bot_env: dict[str, str], database_url: str
) -> None:
    health = f"http://127.0.0.1:{(port := free_port())}/healthz"
    terminal = Terminal(tmp_path, bot_env | {"FEEDBACKBOT_SERVER__PORT": str(port)}, "run")
    try:
        terminal.wait_for(FIRST_QUESTION)
        refuse_connections(database_url, refused=True)
        terminal.type("2")
        terminal.wait_for(OUTAGE_NOTICE)
        assert httpx.get(health, timeout=10).status_code == 503
        refuse_connections(database_url, refused=False)
        terminal.type("2")
        terminal.wait_for("What went wrong?")
        assert httpx.get(health, timeout=10).status_code == 200
        code, stderr = terminal.quit()
    finally:
        refuse_connections(database_url, refused=False)
        terminal.process.kill()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert stored_scores(tmp_path, bot_env) == [("satisfaction", "2")]


def test_sigterm_stops_run_with_the_terminal_channel_waiting_for_a_line(
    tmp_path: Path, bot_env: dict[str, str]
) -> None:
    port = free_port()
    env = bot_env | {"FEEDBACKBOT_SERVER__PORT": str(port)}
    with (
        terminal_stdin() as (terminal, _),
        subprocess.Popen(
            [FEEDBACKBOT, "run"], cwd=tmp_path, env=env, stdin=terminal, stderr=subprocess.PIPE, text=True
        ) as process,
    ):
        try:
            wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
            process.send_signal(signal.SIGTERM)  # the terminal still waits for a line
            process.wait(timeout=30)
        finally:
            process.kill()
        assert process.stderr is not None
        stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    assert "stopped" in stderr.splitlines()[-1]
