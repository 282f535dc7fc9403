"""The command line: one clear line for every bad configuration, and the survey and database commands."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from bot.config import load_settings
from handlers.cli import app
from handlers.registry import settings_model
from storage.migrate import alembic_config
from tests.conftest import ROOT, run_to_its_end


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the shipped surveys and no configuration, as an operator's would be."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("FEEDBACKBOT_")]:
        monkeypatch.delenv(name)
    return tmp_path


def invoke(
    *args: str, config: str | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    if config is not None:
        Path("config.toml").write_text(config, encoding="utf-8")
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    return result.exit_code, result.stdout, result.stderr


BAD_CONFIGURATIONS = [
    (
        "unknown key",
        "[server]\nportt = 1\n",
        {},
        "config.toml: [server] portt (FEEDBACKBOT_SERVER__PORTT): unknown key",
    ),
    (
        "unknown section",
        "[telegramm]\ntoken = 'x'\n",
        {},
        "config.toml: telegramm (FEEDBACKBOT_TELEGRAMM): unknown key",
    ),
    (
        "wrong type",
        "[server]\nport = 'eighty'\n",
        {},
        "config.toml: [server] port (FEEDBACKBOT_SERVER__PORT): Input should be a valid integer",
    ),
    (
        "wrong value from the environment",
        "",
        {"FEEDBACKBOT_TELEGRAM__MODE": "pull"},
        "[telegram] mode (FEEDBACKBOT_TELEGRAM__MODE): Input should be 'polling' or 'webhook'",
    ),
    (
        "placeholder secret outside development",
        'environment = "production"\n[telegram]\ntoken = "change-me"\n',
        {},
        "config.toml: [telegram] token: placeholder secret; set the real one outside development",
    ),
    (
        "placeholder API key outside development",
        'environment = "production"\n[privacy]\nhash_key = "k"\n[api.keys]\ncrm = "change-me-please"\n',
        {},
        "config.toml: [api] keys.crm: placeholder secret; set the real one outside development",
    ),
    (
        "an API key's name that cannot be recorded as it is",
        "",
        {"FEEDBACKBOT_API__KEYS__CRM.PROD": "a-secret"},
        "[api] keys.crm.prod.[key] (FEEDBACKBOT_API__KEYS__CRM.PROD__[KEY]): String should match pattern",
    ),
    (
        "unsupported database driver",
        '[storage]\nurl = "mysql://db/feedback"\n',
        {},
        "[storage] url (FEEDBACKBOT_STORAGE__URL): use sqlite+aiosqlite:///FILE or postgresql+asyncpg://",
    ),
    (
        "unreachable database",
        '[storage]\nurl = "postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback"\n',
        {},
        "feedbackbot: [storage] url: cannot reach the database:",
    ),
    (
        "unknown default survey",
        '[surveys]\ndefault = "nope"\n',
        {},
        "feedbackbot: [surveys] default: no survey 'nope' in surveys",
    ),
    ("not TOML", "[server\n", {}, "feedbackbot: config.toml: not valid TOML"),
    (
        "a key that moved to its channel",
        '[cases]\nescalation_channel = "CESCALATE"\n',
        {},
        "config.toml: [cases] escalation_channel (FEEDBACKBOT_CASES__ESCALATION_CHANNEL): "
        "moved to [slack] escalation_channel (FEEDBACKBOT_SLACK__ESCALATION_CHANNEL)",
    ),
    (
        "a key that moved to its channel, from the environment",
        "",
        {"FEEDBACKBOT_CASES__ESCALATION_MENTION": "<!subteam^S0123>"},
        "[cases] escalation_mention (FEEDBACKBOT_CASES__ESCALATION_MENTION): "
        "moved to [slack] escalation_mention (FEEDBACKBOT_SLACK__ESCALATION_MENTION)",
    ),
]


@pytest.mark.parametrize(
    ("case", "config", "env", "message"), BAD_CONFIGURATIONS, ids=[c[0] for c in BAD_CONFIGURATIONS]
)
def test_a_bad_configuration_stops_the_start_with_one_line(
    workdir: Path, case: str, config: str, env: dict[str, str], message: str
) -> None:
    code, _, stderr = invoke("console", config=config, env=env)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert message in stderr


def test_a_missing_configuration_file_named_on_the_command_line_is_refused(workdir: Path) -> None:
    code, _, stderr = invoke("--config", "elsewhere.toml", "console")
    assert (code, stderr.strip()) == (
        2,
        "feedbackbot: elsewhere.toml: no such configuration file (copy config.example.toml)",
    )


def test_a_database_behind_the_schema_is_refused_until_upgraded(workdir: Path) -> None:
    code, _, stderr = invoke("console", config="")
    assert code == 2
    assert "run `feedbackbot db upgrade`" in stderr
    assert invoke("db", "upgrade")[0] == 0
    code, stdout, _ = invoke("console", stdin="5\nskip\n")
    assert code == 0
    assert "Thank you for your feedback!" in stdout


def test_the_environment_overrides_the_file(workdir: Path) -> None:
    config = '[storage]\nurl = "postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback"\n'
    env = {"FEEDBACKBOT_STORAGE__URL": f"sqlite+aiosqlite:///{workdir / 'from-env.db'}"}
    assert invoke("db", "upgrade", config=config, env=env)[0] == 0
    assert (workdir / "from-env.db").exists()


def test_surveys_check_names_each_broken_file(workdir: Path) -> None:
    surveys = workdir / "mine"
    surveys.mkdir()
    (surveys / "good.toml").write_text((ROOT / "surveys" / "nps.toml").read_text(encoding="utf-8"), encoding="utf-8")
    (surveys / "bad.toml").write_text(
        'title = { en = "T" }\nthank_you = { en = "T" }\nquestions = []\n', encoding="utf-8"
    )
    code, _, stderr = invoke("surveys", "check", config='[surveys]\ndir = "mine"\ndefault = "good"\n')
    assert code == 1
    assert stderr.strip() == "mine/bad.toml: questions: List should have at least 1 item after validation, not 0"
    (surveys / "bad.toml").unlink()
    code, stdout, _ = invoke("surveys", "check")
    assert (code, stdout.strip()) == (0, "1 surveys OK: good")


@pytest.mark.parametrize(
    "command",
    [[], ["db"], ["surveys"], ["run"], ["console"], ["export"], ["report"], ["score"], ["cases"], ["cases", "list"]],
)
def test_every_command_explains_itself(workdir: Path, command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    assert len(result.stdout.split()) > 15


def test_cases_list_and_show(workdir: Path) -> None:
    assert invoke("db", "upgrade", config="")[0] == 0
    code, _, _ = invoke("console", stdin="1\nThe courier was rude and the parcel late\n/complain I was charged twice\n")
    assert code == 0
    code, listing, _ = invoke("cases", "list")
    assert code == 0
    lines = listing.strip().splitlines()
    assert [line.split()[:4] for line in lines] == [
        ["#2", "new", "high", "billing"],
        ["#1", "new", "high", "delivery"],
    ]
    assert invoke("cases", "list", "--status", "closed")[1].strip() == ""
    assert invoke("cases", "list", "--overdue")[1].strip() == ""  # both are due later
    code, shown, _ = invoke("cases", "show", "1")
    assert code == 0
    assert shown.startswith(
        "Complaint #1 (low_score, negative_text; priority high, delivery, sentiment -0.72) from a console customer"
    )
    assert "“The courier was rude and the parcel late”" in shown
    assert "Trail:" in shown and "system: opened (low_score" in shown
    assert invoke("cases", "show", "99")[2].strip() == "feedbackbot: no case #99"


def answer_in_the_console(*sessions: str) -> None:
    for answers in sessions:
        assert invoke("console", stdin=answers)[0] == 0


def test_report_as_json_and_as_a_table(workdir: Path) -> None:
    assert invoke("db", "upgrade", config="")[0] == 0
    answer_in_the_console("1\nThe courier was rude and the parcel late\n", "5\nskip\n", "4\nskip\n")

    code, stdout, _ = invoke("report", "--survey", "csat", "--by", "channel", "--format", "json")

    assert code == 0
    document = json.loads(stdout)
    assert (document["by"], document["min_group_size"], [s["survey"] for s in document["surveys"]]) == (
        "channel",
        5,
        ["csat"],
    )
    [survey] = document["surveys"]
    csat = survey["total"]["csat"]
    assert (csat["answers"], round(csat["percent"], 2), csat["mean"]) == (3, 66.67, 10 / 3)
    assert [round(bound, 2) for bound in csat["interval"]] == [20.77, 93.85]  # Wilson, 2 of 3
    assert csat["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}
    assert (survey["total"]["sentiment"]["negative"], survey["total"]["cases"]["count"]) == (1, 1)
    assert [(group["group"], group["respondents"], group["hidden"]) for group in survey["groups"]] == [
        ("console", 3, None)
    ]

    code, stdout, _ = invoke("report", "--survey", "csat", "--by", "channel")
    assert code == 0
    rows = [line for line in stdout.splitlines() if "console" in line]
    assert len(rows) == 2  # in the figures, then in the cases and invitations
    assert [cell.strip() for cell in rows[0].strip("│ ").split("│")][:3] == ["console", "3", "66.7 (20.8-93.9)"]
    assert [cell.strip() for cell in rows[1].strip("│ ").split("│")] == ["console", "-", "-", "33.3", "0", "-", "-"]
    assert "Top complaint categories" in stdout and "Drop-off per question" in stdout
    [delivery] = [line for line in stdout.splitlines() if "delivery" in line]
    assert [cell.strip() for cell in delivery.strip("│ ").split("│")] == ["delivery", "1", "-", "-"]

    code, page, _ = invoke("report", "--survey", "csat", "--format", "html")
    assert code == 0
    assert page.startswith("<!DOCTYPE html>") and "<td>66.7 (20.8-93.9)</td>" in page

    assert invoke("report", "--by", "region name")[2].strip() == (
        "feedbackbot: --by: 'region name' is neither one of channel, day, week, month, service nor an invitation"
        " attribute name"
    )
    assert invoke("report", "--survey", "nope")[2].strip() == (
        "feedbackbot: --survey: no survey 'nope'; available: ces, csat, internal-service, nps"
    )


def test_the_example_configuration_is_valid_and_explains_every_key() -> None:
    example = ROOT / "config.example.toml"
    settings = load_settings(example, model=settings_model())
    text = example.read_text(encoding="utf-8")
    for section, values in settings.model_dump().items():
        keys = values if isinstance(values, dict) else {section: values}
        for key in keys:
            assert f"\n{key} =" in text or text.startswith(f"{key} ="), f"{section}.{key} is missing"


def test_score_prints_one_json_object_per_line_of_a_file(workdir: Path) -> None:
    texts = ["Still waiting for my refund", "Great service, thanks!", "Очень плохое обслуживание", ""]
    Path("answers.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, stdout, _ = invoke("score", "answers.txt", config="")
    assert code == 0
    scored = [json.loads(line) for line in stdout.splitlines()]
    assert [(line["label"], line["complaint"]) for line in scored] == [
        ("negative", True),
        ("positive", False),
        ("unknown", False),
        ("neutral", False),
    ]
    assert scored[0]["polarity"] < 0 < scored[1]["polarity"]
    assert {line["analyzer"] for line in scored} == {"complaints"}


def test_score_reads_standard_input_with_the_configured_analyzer_and_threshold(workdir: Path) -> None:
    mild = "The delivery was slightly late\n"
    code, stdout, _ = invoke("score", config="[sentiment]\ncomplaint_threshold = -0.9\n", stdin=mild)
    assert (code, json.loads(stdout)["complaint"]) == (0, False)
    code, stdout, _ = invoke("score", config='[sentiment]\nanalyzer = "textblob"\n', stdin="Terrible service\n")
    assert json.loads(stdout) == {"polarity": -1.0, "label": "negative", "complaint": True, "analyzer": "textblob"}
    code, stdout, _ = invoke("score", "--language", "es", config="", stdin="Terrible service\n")
    assert json.loads(stdout)["label"] == "unknown"


def test_score_answers_every_line_whatever_its_ending_or_encoding(workdir: Path) -> None:
    Path("mixed.txt").write_bytes(b"Terrible service\r\n\xff\xfe broken\rGreat, thanks\nAwful")
    code, stdout, stderr = invoke("score", "mixed.txt", config="")
    assert code == 0
    assert [json.loads(line)["complaint"] for line in stdout.splitlines()] == [True, True, False, True]
    assert stderr.strip() == "line 2: not UTF-8 text; the unreadable bytes were replaced"


def test_score_names_a_missing_file(workdir: Path) -> None:
    code, _, stderr = invoke("score", "missing.txt", config="")
    assert code == 2
    assert "missing.txt' does not exist" in stderr


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_db_upgrade_says_whether_it_created_the_schema_or_found_it_current(workdir: Path) -> None:
    newest = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    code, stdout, _ = invoke("db", "upgrade", config="")
    assert (code, stdout.strip()) == (0, f"database schema created at revision {newest} (sqlite+aiosqlite)")
    code, stdout, _ = invoke("db", "upgrade")
    assert (code, stdout.strip()) == (0, f"database schema is up to date at revision {newest} (sqlite+aiosqlite)")


@pytest.mark.parametrize("command", [["cases", "list"], ["cases", "show", "1"], ["export"]])
def test_reading_a_database_behind_the_schema_says_so_in_one_line(workdir: Path, command: list[str]) -> None:
    code, stdout, stderr = invoke(*command, config="")
    assert code == 2
    assert one_line(stderr) == (
        "feedbackbot: [storage] url: the database schema is not up to date; run `feedbackbot db upgrade`"
    )
    assert stdout == ""


def test_export_into_a_folder_that_does_not_exist_says_so_in_one_line(workdir: Path) -> None:
    assert invoke("db", "upgrade", config="")[0] == 0
    code, _, stderr = invoke("export", "-o", "missing/answers.csv")
    assert code == 2
    assert one_line(stderr) == "feedbackbot: --output: cannot write missing/answers.csv: No such file or directory"


def test_unknown_values_are_refused_and_empty_results_said(workdir: Path) -> None:
    assert invoke("db", "upgrade", config="")[0] == 0
    code, stdout, stderr = invoke("cases", "list", "--status", "bogus")
    assert (code, stdout) == (2, "")
    assert one_line(stderr) == (
        "feedbackbot: --status: no status 'bogus'; one of new, acknowledged, resolved, closed, reopened"
    )
    assert invoke("cases", "list", "--status", "closed")[1:] == ("", "no cases\n")
    code, _, stderr = invoke("export", "--survey", "nosuch")
    assert code == 2
    assert one_line(stderr) == "feedbackbot: --survey: no survey 'nosuch'; available: ces, csat, internal-service, nps"
    code, stdout, stderr = invoke("export", "--survey", "nps", "--format", "jsonl")
    assert (code, stdout, stderr) == (0, "", "0 answers\n")


def test_cases_show_gives_the_surveys_scores_and_choices(workdir: Path) -> None:
    assert invoke("db", "upgrade", config="")[0] == 0
    typed = "/survey internal-service\n2\n1\n1\nThe heating is broken again\n"
    assert invoke("console", stdin=typed)[0] == 0
    code, shown, _ = invoke("cases", "show", "1")
    assert code == 0
    assert "\nAnswers: service facilities · quality 1 · speed 1\n" in shown


@pytest.mark.parametrize("staff", ["U1,U2", " U1 , U2 ", '["U1", "U2"]'])
def test_a_list_in_the_environment_may_be_comma_separated_or_json(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, staff: str
) -> None:
    monkeypatch.setenv("FEEDBACKBOT_SLACK__STAFF_USER_IDS", staff)
    settings = load_settings(Path("config.toml"), model=settings_model())
    assert settings.configured_channels() == {}
    assert settings.model_dump()["slack"]["staff_user_ids"] == ["U1", "U2"]
    assert invoke("surveys", "check")[0] == 0


def test_a_table_in_the_environment_that_is_not_json_is_one_line(workdir: Path) -> None:
    code, _, stderr = invoke("surveys", "check", env={"FEEDBACKBOT_CASES__ACK_MINUTES": "high=30"})
    assert code == 2
    assert one_line(stderr) == (
        'feedbackbot: FEEDBACKBOT_CASES__...: a table from the environment must be JSON, e.g. {"high": 30}'
    )


def test_a_misspelled_variable_is_named_with_the_closest_setting(workdir: Path) -> None:
    env = {"FEEDBACKBOT_STORAGE_URL": "postgresql+asyncpg://db/feedback", "FEEDBACKBOT_ENVIROMENT": "production"}
    code, _, stderr = invoke("surveys", "check", env=env)
    assert code == 0
    assert stderr.splitlines() == [
        "feedbackbot: warning: FEEDBACKBOT_ENVIROMENT is not a setting and is ignored; "
        "did you mean FEEDBACKBOT_ENVIRONMENT?",
        "feedbackbot: warning: FEEDBACKBOT_STORAGE_URL is not a setting and is ignored; "
        "did you mean FEEDBACKBOT_STORAGE__URL?",
    ]
    env = {"FEEDBACKBOT_CASES__ACK_MINUTES__HIGH": "30", "FEEDBACKBOT_TELEGRAM__MODE": "polling"}
    assert invoke("surveys", "check", env=env)[2] == ""


def test_a_configuration_file_given_by_name_must_exist(workdir: Path) -> None:
    code, _, stderr = invoke("--config", "config.toml", "surveys", "check")
    assert code == 2
    assert one_line(stderr) == "feedbackbot: config.toml: no such configuration file (copy config.example.toml)"
    assert invoke("surveys", "check")[0] == 0  # the default file may be absent


def test_relative_paths_in_the_configuration_are_in_its_folder(workdir: Path) -> None:
    site = workdir / "site"
    site.mkdir()
    (site / "mine").symlink_to(ROOT / "surveys")
    (site / "config.toml").write_text(
        '[storage]\nurl = "sqlite+aiosqlite:///data/feedback.db"\n[surveys]\ndir = "mine"\n', encoding="utf-8"
    )
    (site / "data").mkdir()
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    assert invoke("--config", "../site/config.toml", "db", "upgrade")[0] == 0
    assert (site / "data" / "feedback.db").exists()
    code, _, stderr = invoke("--config", str(site / "config.toml"), "cases", "list")
    assert (code, stderr) == (0, "no cases\n")
    assert invoke("--config", "../site/config.toml", "surveys", "check")[1].startswith("4 surveys OK")
    assert list(elsewhere.iterdir()) == []


def test_a_partial_priority_table_keeps_the_other_defaults(workdir: Path) -> None:
    Path("config.toml").write_text("[cases]\nack_minutes = { high = 30 }\n", encoding="utf-8")
    cases = load_settings(Path("config.toml")).cases
    assert cases.ack_minutes == {"high": 30, "normal": 240, "low": 1440}
    assert cases.resolve_hours == {"high": 24, "normal": 72, "low": 168}
    code, _, stderr = invoke("surveys", "check", config="[cases]\nack_minutes = { hihg = 30 }\n")
    assert code == 2
    assert one_line(stderr) == (
        "feedbackbot: config.toml: [cases] ack_minutes (FEEDBACKBOT_CASES__ACK_MINUTES): "
        "the priorities are high, normal, low, not hihg"
    )


def test_a_running_channel_that_names_a_missing_survey_is_refused(workdir: Path) -> None:
    slack = '[slack]\nfeedback_survey = "nope"\nsigning_secret = "s"\n'
    assert invoke("surveys", "check", config=slack)[0] == 0  # Slack is off: its section names nothing that runs
    code, _, stderr = invoke("surveys", "check", env={"FEEDBACKBOT_SLACK__BOT_TOKEN": "xoxb-1"})
    assert (code, one_line(stderr)) == (2, "feedbackbot: [slack] feedback_survey: no survey 'nope' in surveys")


def test_the_core_commands_read_a_configuration_with_every_channel_section(workdir: Path) -> None:
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "\n[telegram]\n" in config and "\n[slack]\n" in config
    assert invoke("db", "upgrade", config=config)[0] == 0
    assert invoke("cases", "list") == (0, "", "no cases\n")
    assert invoke("surveys", "check")[1].startswith("4 surveys OK")


PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_the_installed_one(workdir: Path) -> None:
    assert invoke("--version") == (0, f"feedbackbot {PROJECT_VERSION}\n", "")


def test_the_first_log_line_of_the_running_bot_names_the_version_and_the_schema(
    tmp_path: Path, database_url: str
) -> None:
    bot = run_to_its_end(tmp_path, database_url)
    assert bot.returncode == 0, bot.stderr
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    first = bot.stderr.splitlines()[0]
    assert first.endswith(
        f" INFO handlers.runner: starting version {PROJECT_VERSION}, database schema at revision {head}"
    )
