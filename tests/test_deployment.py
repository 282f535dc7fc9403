"""The deployment pieces without docker: compose.yaml's services and start order, the settings it and the systemd
unit set, the image's commands run against a real `feedbackbot run`, and the paths the Caddyfile passes on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints, and types-PyYAML is not installed here

from bot.config import load_settings, unknown_variables
from handlers.registry import settings_model
from handlers.slack.channel import EVENTS_PATH
from handlers.telegram.channel import WEBHOOK_PATH
from tests.conftest import FEEDBACKBOT, ROOT, free_port
from tests.fakes.telegram_api import FakeTelegram

DEPLOY = ROOT / "deploy"
BOTS = ("bot-1", "bot-2")


def compose() -> dict[str, Any]:
    project: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return project


def interpolated(value: str) -> str:
    """A compose value with its ${VARIABLE:?message} filled in as an operator's .env would."""
    given = {"POSTGRES_PASSWORD": "s3cret-db-password", "BOT_DOMAIN": "bot.example.com"}
    return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda match: given[match[1]], value)


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def systemd_environment(path: Path) -> dict[str, str]:
    settings = re.findall(r"^Environment=(\w+)=(.*)$", path.read_text(), flags=re.MULTILINE)
    return dict(settings)


def dockerfile_instruction(name: str) -> list[str]:
    """The exec form (JSON array) of a Dockerfile instruction, continuation lines joined (HEALTHCHECK: its CMD)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    command: list[str] = json.loads(line[line.index("[") :])
    return command


def test_the_database_is_healthy_then_migrated_once_before_both_bots_start() -> None:
    services = compose()["services"]
    assert services["db"]["image"] == "postgres:15"
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for bot in BOTS:
        assert services[bot]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert "command" not in services[bot]  # the image's CMD: run
    assert {name: {"condition": "service_healthy"} for name in BOTS} == services["proxy"]["depends_on"]
    assert services["proxy"]["volumes"][0].startswith("./deploy/Caddyfile:")


def test_the_bots_run_in_webhook_mode_on_postgresql_with_their_secrets_from_the_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = env_file(DEPLOY / "feedbackbot.env.example")
    filled = {key: f"{key.lower()}-value" for key in secrets} | {
        "FEEDBACKBOT_TELEGRAM__TOKEN": "123456:real-token",
        "FEEDBACKBOT_TELEGRAM__STAFF_CHAT_ID": "-100123",
    }
    for name in (*BOTS, "migrate"):
        service = compose()["services"][name]
        assert service["env_file"] == "deploy/feedbackbot.env"
        environment = {key: interpolated(str(value)) for key, value in service["environment"].items()} | filled
        assert unknown_variables(environment, settings_model()) == []
        for key in [key for key in os.environ if key.startswith("FEEDBACKBOT_")]:
            monkeypatch.delenv(key)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings: Any = load_settings(tmp_path / "config.toml", model=settings_model())
        assert settings.environment == "production"
        assert settings.storage.url == "postgresql+asyncpg://feedbackbot:s3cret-db-password@db:5432/feedbackbot"
        assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8080)
        assert settings.server.public_url == "https://bot.example.com"
        assert settings.telegram.mode == "webhook"
        assert settings.slack.mode == "http"
        assert sorted(settings.configured_channels()) == ["slack", "telegram"]


def test_the_systemd_unit_sets_only_real_settings_and_runs_the_bot_hardened() -> None:
    unit = DEPLOY / "feedbackbot.service"
    environment = systemd_environment(unit)
    assert environment["FEEDBACKBOT_TELEGRAM__MODE"] == "webhook"
    assert unknown_variables(environment, settings_model()) == []
    text = unit.read_text()
    for line in ("User=feedbackbot", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert line in text.splitlines()
    assert re.search(r"^ExecStart=\S*/feedbackbot run$", text, flags=re.MULTILINE)


def test_the_image_runs_as_a_user_and_sets_only_real_settings() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE) == ["feedbackbot"]
    environment = dict(re.findall(r"\b(FEEDBACKBOT_\w+)=(\S+)", dockerfile))
    assert environment == {"FEEDBACKBOT_SERVER__HOST": "0.0.0.0", "FEEDBACKBOT_SERVER__PORT": "8080"}
    assert unknown_variables(environment, settings_model()) == []


def test_the_caddyfile_passes_on_exactly_the_paths_the_channels_serve() -> None:
    [matcher] = re.findall(r"@bot path (.+)", (DEPLOY / "Caddyfile").read_text())
    assert sorted(matcher.split()) == sorted([WEBHOOK_PATH, EVENTS_PATH])


@pytest.fixture
async def webhook_bot(tmp_path: Path, database_url: str) -> AsyncIterator[int]:
    """The image's ENTRYPOINT and CMD (`feedbackbot run`) in webhook mode on the fake Bot API; yields its port."""
    (tmp_path / "surveys").symlink_to(ROOT / "surveys")
    port = free_port()
    async with FakeTelegram() as fake:
        env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACKBOT_")} | {
            "FEEDBACKBOT_STORAGE__URL": database_url,
            "FEEDBACKBOT_SERVER__PORT": str(port),
            "FEEDBACKBOT_SERVER__PUBLIC_URL": "https://bot.example.com",
            "FEEDBACKBOT_TELEGRAM__TOKEN": fake.token,
            "FEEDBACKBOT_TELEGRAM__API_BASE_URL": fake.base_url,
            "FEEDBACKBOT_TELEGRAM__MODE": "webhook",
            "FEEDBACKBOT_TELEGRAM__WEBHOOK_SECRET": "webhook-secret",
        }
        [entrypoint] = dockerfile_instruction("ENTRYPOINT")
        command = [str(Path(FEEDBACKBOT).with_name(entrypoint)), *dockerfile_instruction("CMD")]
        with (tmp_path / "bot.log").open("wb") as log:
            bot = await asyncio.create_subprocess_exec(*command, cwd=tmp_path, env=env, stdout=log, stderr=log)
        try:
            await fake.wait_for(lambda: fake.webhook_url == f"https://bot.example.com{WEBHOOK_PATH}", timeout=30)
            yield port
        finally:
            bot.terminate()
            await bot.wait()
        fake.assert_clean()


async def health_check(port: int) -> int:
    """The exit status of the image's HEALTHCHECK command against `port`."""
    [python, *arguments] = dockerfile_instruction("HEALTHCHECK")
    assert python == "python"  # the image's own; here this venv's
    environment = os.environ | {"FEEDBACKBOT_SERVER__PORT": str(port)}
    check = await asyncio.create_subprocess_exec(
        sys.executable, *arguments, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await check.wait()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_image_health_check_passes_against_a_running_bot(webhook_bot: int) -> None:
    assert await health_check(webhook_bot) == 0


async def test_the_image_health_check_fails_against_a_closed_port() -> None:
    assert await health_check(free_port()) != 0
