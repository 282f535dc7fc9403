"""`[dashboard] users`: read from the file or the environment, long passwords only, no placeholder in production,
and no password in a log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot import logsafety
from bot.config import ConfigError, load_settings
from handlers.registry import settings_model

PASSWORD = "dashboard-password-0123"


def test_a_user_may_be_set_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKBOT_DASHBOARD__USERS__ANA", PASSWORD)
    settings = load_settings(tmp_path / "config.toml", model=settings_model())
    assert settings.dashboard.enabled
    assert settings.dashboard.users["ana"].get_secret_value() == PASSWORD


@pytest.mark.parametrize(
    ("users", "problem"),
    [
        ('{ ana = "short-one" }', "[dashboard] users (FEEDBACKBOT_DASHBOARD__USERS): the password of ana is shorter"),
        ('{ "ana bob" = "long enough 0123" }', "[dashboard] users.ana bob.[key]"),
    ],
)
def test_short_passwords_and_odd_user_names_are_refused(tmp_path: Path, users: str, problem: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[dashboard]\nusers = {users}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, model=settings_model())
    assert problem in str(refused.value)


def test_a_placeholder_password_is_refused_in_production(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'environment = "production"\n[privacy]\nhash_key = "a-real-hash-key-0123"\n'
        '[dashboard]\nusers = { ana = "change-me-to-something" }\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config, model=settings_model())
    assert str(refused.value).endswith(
        "[dashboard] users.ana: placeholder secret; set the real one outside development"
    )


def test_no_log_line_shows_a_dashboard_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[dashboard]\nusers = {{ ana = "{PASSWORD}" }}\n')
    redactor = logsafety.SecretRedactor(load_settings(config, model=settings_model()).secret_values())
    caplog.handler.addFilter(redactor)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("a request with the password %s", PASSWORD)
    assert caplog.messages == ["a request with the password [redacted]"]
