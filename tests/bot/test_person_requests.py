"""An operator's data requests: `person export` prints what is held about a person, `person forget` erases it as
their own /forget does, and both are audited without the data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.engine import Engine
from bot.sentiment import DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.surveys import Survey
from handlers.cli import app
from storage.db import Database
from storage.person_record import AuditLine, audit_log
from tests.bot.customer import Customer
from tests.conftest import ROOT, Clock, database_dump, run_aside

HASH_KEY = "person-requests-key"
PLATFORM_ID = "714862471"
FREE_TEXT = "Ask for Maria at the Elm Street shop, she was rude"
COMPLAINT = "My phone is +1 555 0100 and I was charged twice"
PERSONAL = (PLATFORM_ID, "ORDER-55", "Maria", "555 0100")


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line on the test's database, with the bot's privacy key, run by the operator "dpo"."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("FEEDBACKBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDBACKBOT_STORAGE__URL", database_url)
    monkeypatch.setenv("FEEDBACKBOT_PRIVACY__HASH_KEY", HASH_KEY)
    monkeypatch.setenv("LOGNAME", "dpo")  # what getpass.getuser() reads first
    return CliRunner()


async def answer_and_complain(url: str, surveys: dict[str, Survey]) -> None:
    database = Database(url)
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    engine = Engine(database=database, surveys=surveys, analyzer=analyzer, hash_key=HASH_KEY.encode(), clock=Clock())
    customer = Customer(engine, user_id=PLATFORM_ID)
    try:
        await customer.start("csat", "ORDER-55")
        await customer.press("1")
        await customer.say(FREE_TEXT)
        await customer.complain(COMPLAINT)
    finally:
        await database.close()


async def dump_and_audit(url: str) -> tuple[str, list[AuditLine]]:
    database = Database(url)
    try:
        async with database.snapshot() as session:
            return await database_dump(database), await audit_log(session)
    finally:
        await database.close()


def test_export_holds_the_answers_and_the_cases_words(
    cli: CliRunner, database_url: str, surveys: dict[str, Survey]
) -> None:
    run_aside(answer_and_complain(database_url, surveys))
    result = cli.invoke(app, ["person", "export", f"test:{PLATFORM_ID}"])
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout)
    assert (exported["channel"], exported["platform_id"], exported["reachable"]) == ("test", PLATFORM_ID, True)
    [conversation] = exported["conversations"]
    assert (conversation["survey_id"], conversation["reference"]) == ("csat", "ORDER-55")
    assert [(answer["value"], answer["text"]) for answer in conversation["answers"]] == [(1, None), (None, FREE_TEXT)]
    assert [case["text"] for case in exported["cases"]] == [FREE_TEXT, COMPLAINT]
    assert [case["trail"][0]["action"] for case in exported["cases"]] == ["opened", "opened"]
    assert len(exported["inbound_events"]) == 4
    assert "anonymously" in exported["note"]

    _, [entry] = run_aside(dump_and_audit(database_url))
    assert (entry.actor, entry.action, entry.counts["answers"], entry.counts["cases"]) == ("dpo", "person.export", 2, 2)
    assert not any(word in repr(entry) for word in (*PERSONAL, FREE_TEXT))


def test_forget_leaves_nothing_of_the_person_and_audits_without_their_data(
    cli: CliRunner, database_url: str, surveys: dict[str, Survey]
) -> None:
    run_aside(answer_and_complain(database_url, surveys))
    dump, _ = run_aside(dump_and_audit(database_url))
    assert all(word in dump for word in PERSONAL)  # the check below can fail

    refused = cli.invoke(app, ["person", "forget", f"test:{PLATFORM_ID}"], input="n\n")
    assert refused.exit_code == 1 and FREE_TEXT in run_aside(dump_and_audit(database_url))[0]
    result = cli.invoke(app, ["person", "forget", "--yes", f"test:{PLATFORM_ID}"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"erased test:{PLATFORM_ID}: 1 person, 1 conversations, 2 answers, 2 cases, 4 inbound events, 0 invitations\n"
    )

    dump, [entry] = run_aside(dump_and_audit(database_url))
    assert [word for word in (*PERSONAL, FREE_TEXT, COMPLAINT) if word in dump] == []
    assert (entry.actor, entry.action, entry.counts["cases"]) == ("dpo", "person.forget", 2)
    assert len(entry.subject) == 64  # a keyed hash stands for the person
    unknown = cli.invoke(app, ["person", "export", f"test:{PLATFORM_ID}"])
    assert (unknown.exit_code, unknown.stderr) == (1, f"feedbackbot: no person test:{PLATFORM_ID}\n")


@pytest.mark.parametrize("command", [["export"], ["forget", "--yes"]])
def test_an_unknown_person_is_one_line_and_exit_1(cli: CliRunner, command: list[str]) -> None:
    result = cli.invoke(app, ["person", *command, "telegram:42"])
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "feedbackbot: no person telegram:42\n")
