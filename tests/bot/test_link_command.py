"""`feedbackbot link`: the deep link printed, its QR code, and a clear refusal of an unknown survey."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from bot.links import LinkTokens
from handlers.cli import app
from storage.db import Database
from storage.models import AuditEntry, SurveyLink
from tests.conftest import ROOT, run_aside
from tests.qr_codes import decoded

USERNAME = "feedback_test_bot"
DEV_HASH_KEY = b"feedbackbot-development-only"  # the settings' key in development, without [privacy] hash_key


@pytest.fixture
def operator_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An operator's folder with the shipped surveys, the test database and the bot's username."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("FEEDBACKBOT_")]:  # back before the database goes
        monkeypatch.delenv(name)
    return {"FEEDBACKBOT_STORAGE__URL": database_url, "FEEDBACKBOT_TELEGRAM__USERNAME": USERNAME}


def link(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["link", *args], env=env)


def stored(database_url: str) -> tuple[list[SurveyLink], list[AuditEntry]]:
    """The links and audit lines in the database, read on a loop of their own (the command runs its own)."""

    async def read() -> tuple[list[SurveyLink], list[AuditEntry]]:
        database = Database(database_url)
        try:
            async with database.snapshot() as session:
                return list(await session.exec(select(SurveyLink))), list(await session.exec(select(AuditEntry)))
        finally:
            await database.close()

    return run_aside(read())


def test_link_prints_the_deep_link_and_stores_what_it_stands_for(
    operator_env: dict[str, str], database_url: str
) -> None:
    made = link(operator_env, "--survey", "csat", "--ref", "ORDER123", "--attr", "region=north", "--attr", "plan=pro")
    assert made.exit_code == 0, made.stderr
    url = made.stdout.strip()
    prefix = f"https://t.me/{USERNAME}?start="
    assert url.startswith(prefix) and "ORDER123" not in url
    token = url.removeprefix(prefix)
    assert LinkTokens(DEV_HASH_KEY).is_genuine(token)
    [[made_link], [audit]] = stored(database_url)
    assert (made_link.token, made_link.survey_id, made_link.reference, made_link.attributes) == (
        token,
        "csat",
        "ORDER123",
        {"region": "north", "plan": "pro"},
    )
    assert (audit.action, audit.subject, audit.actor) == ("link.create", f"link {made_link.id}", made_link.created_by)


def test_link_writes_a_qr_code_that_scans_to_the_link(operator_env: dict[str, str], tmp_path: Path) -> None:
    made = link(operator_env, "--survey", "nps", "--qr", "receipt.png", "--expires-days", "30")
    assert made.exit_code == 0, made.stderr
    assert decoded((tmp_path / "receipt.png").read_bytes()) == [made.stdout.strip()]
    assert "QR code written to receipt.png" in made.stderr and "expires " in made.stderr


def test_link_to_an_unknown_survey_fails_naming_the_surveys(operator_env: dict[str, str], database_url: str) -> None:
    made = link(operator_env, "--survey", "nosuch", "--ref", "ORDER123")
    assert (made.exit_code, made.stdout, made.stderr.strip()) == (
        2,
        "",
        "feedbackbot: --survey: no survey 'nosuch'; the surveys are ces, csat, internal-service, nps",
    )
    assert stored(database_url) == ([], [])


def test_link_refuses_an_attribute_without_a_value_or_with_a_bad_name(operator_env: dict[str, str]) -> None:
    no_value = link(operator_env, "--survey", "csat", "--attr", "region")
    assert (no_value.exit_code, no_value.stderr.strip()) == (
        2,
        "feedbackbot: --attr: write each as NAME=VALUE, e.g. --attr region=north",
    )
    bad_name = link(operator_env, "--survey", "csat", "--attr", "the region=north")
    assert bad_name.exit_code == 2
    assert "--attr: 'the region': a name is 1 to 64 letters, digits, - or _" in bad_name.stderr


def test_without_a_username_link_prints_the_token_and_how_to_make_the_link(
    operator_env: dict[str, str], database_url: str
) -> None:
    env = {name: value for name, value in operator_env.items() if name != "FEEDBACKBOT_TELEGRAM__USERNAME"}
    made = link(env, "--survey", "csat")
    assert made.exit_code == 0, made.stderr
    [[made_link], _] = stored(database_url)
    assert made.stdout == f"{made_link.token}\n"
    assert f"https://t.me/BOT_USERNAME?start={made_link.token}" in made.stderr
    assert "set [telegram] username (FEEDBACKBOT_TELEGRAM__USERNAME)" in made.stderr
    no_qr = link(env, "--survey", "csat", "--qr", "code.png")
    assert (no_qr.exit_code, no_qr.stderr.strip()) == (
        2,
        "feedbackbot: --qr: a QR code needs the link's address; set [telegram] username "
        "(FEEDBACKBOT_TELEGRAM__USERNAME)",
    )
