"""No configured secret in any log line, whichever logger writes it and wherever in the record it sits."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
import uvicorn.config

from bot.config import Settings
from bot.logsafety import OWN_HANDLER_LOGGERS, REDACTED, SecretRedactor, install
from handlers.registry import settings_model

SECRETS = {
    "telegram token": "123456789:AAH-telegram-secret",
    "webhook secret": "webhook-secret-value",
    "slack bot token": "xoxb-1234-slack-bot-token",
    "slack signing secret": "8f742231b10e8888abcd99yyyzzz85a5",
    "slack app token": "xapp-1-A111-app-token",
    "privacy hash key": "hash key with spaces & symbols",
    "database password": "db-p@ss/word",
    "api key": "api-key-of-the-crm-0123",
    "outbound webhook secret": "whsec-outbound-webhook-0123",
}


def settings_with_every_secret() -> Settings:
    return settings_model().model_validate(
        {
            "storage": {"url": f"postgresql+asyncpg://bot:{quote(SECRETS['database password'], safe='')}@127.0.0.1/db"},
            "telegram": {"token": SECRETS["telegram token"], "webhook_secret": SECRETS["webhook secret"]},
            "slack": {
                "bot_token": SECRETS["slack bot token"],
                "signing_secret": SECRETS["slack signing secret"],
                "app_token": SECRETS["slack app token"],
            },
            "privacy": {"hash_key": SECRETS["privacy hash key"]},
            "api": {"keys": {"crm": SECRETS["api key"]}},
            "webhooks": {
                "crm": {
                    "url": "https://crm.example.com/hooks",
                    "secret": SECRETS["outbound webhook secret"],
                    "events": ["case.opened"],
                }
            },
        }
    )


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A library's logger writing through a handler that carries the redactor, as the CLI sets it up."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(SecretRedactor(settings_with_every_secret().secret_values()))
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, written
    logger.removeHandler(handler)


def test_every_secret_of_the_settings_is_known() -> None:
    assert sorted(settings_with_every_secret().secret_values()) == sorted(SECRETS.values())


@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
def test_a_secret_is_redacted_from_message_arguments_and_tracebacks(
    log: tuple[logging.Logger, io.StringIO], secret: str
) -> None:
    logger, written = log
    logger.debug(f"in the message: {secret}")
    logger.info("HTTP Request: POST https://api.example/bot%s/getUpdates", secret)
    logger.info("encoded: %s and %s", quote(secret, safe=""), quote_plus(secret))
    logger.warning("as a repr: %r", {"token": secret})
    try:
        raise RuntimeError(f"refused with {secret}")
    except RuntimeError:
        logger.exception("the call failed")
    text = written.getvalue()
    for form in (secret, quote(secret, safe=""), quote(secret), quote_plus(secret)):
        assert form not in text
    assert "Traceback" in text and "RuntimeError: refused with [redacted]" in text
    assert text.count(REDACTED) == 6


def test_lines_without_secrets_are_left_as_they_were(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, written = log
    logger.info("case %s opened for %d%%", "#12", 50)
    assert written.getvalue() == "case #12 opened for 50%\n"


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    """Puts back the root handlers' filters and uvicorn's loggers as they were."""
    loggers = [logging.getLogger(name) for name in OWN_HANDLER_LOGGERS]
    saved = [(logger, logger.handlers[:], logger.filters[:], logger.level, logger.propagate) for logger in loggers]
    handlers = {handler: handler.filters[:] for handler in logging.getLogger().handlers}
    yield
    for logger, logger_handlers, filters, level, propagate in saved:
        logger.handlers, logger.filters, logger.level, logger.propagate = logger_handlers, filters, level, propagate
    for handler, filters in handlers.items():
        handler.filters = filters


def test_the_loggers_uvicorn_configures_for_itself_are_covered(
    capsys: pytest.CaptureFixture[str], restored_loggers: None
) -> None:
    token = SECRETS["telegram token"]
    install([token])
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # as uvicorn does when its server starts
    logging.getLogger("uvicorn.error").error("Exception in ASGI application: %s", f"POST /bot{token}/getMe")
    access = '%s - "%s %s HTTP/%s" %d'
    logging.getLogger("uvicorn.access").info(access, "127.0.0.1:5000", "POST", f"/hook?t={quote(token)}", "1.1", 500)
    written = capsys.readouterr()
    assert token not in written.err + written.out
    assert "Exception in ASGI application: POST /bot[redacted]/getMe" in written.err
    assert '127.0.0.1:5000 - "POST /hook?t=[redacted] HTTP/1.1" 500' in written.out  # still formatted by uvicorn
