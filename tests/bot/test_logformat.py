"""Log lines as text or JSON: one JSON object per line, with the correlation id and the exception, and no secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.config import LoggingSettings
from bot.correlation import correlated, current, new_id
from bot.logformat import JsonFormatter, TextFormatter
from bot.logsafety import REDACTED, SecretRedactor

SECRET = 'to"ken\\with/odd:chars'  # JSON escapes the quote and the backslash


@pytest.fixture
def written(correlated_records: None) -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A logger writing to a string, through a handler whose formatter the test sets."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    logger = logging.getLogger("feedbackbot.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, output, handler
    logger.removeHandler(handler)


def json_lines(output: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_a_json_line_has_time_level_logger_message_and_the_correlation_id(
    written: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, output, handler = written
    handler.setFormatter(JsonFormatter())
    before = datetime.now(UTC)
    with correlated("telegram-7"):
        logger.info("case %d opened", 12)
    logger.warning("outside any update")
    inside, outside = json_lines(output)
    assert {key: inside[key] for key in ("level", "logger", "message", "correlation_id")} == {
        "level": "INFO",
        "logger": "feedbackbot.test",
        "message": "case 12 opened",
        "correlation_id": "telegram-7",
    }
    assert datetime.fromisoformat(str(inside["time"])) >= before.replace(microsecond=0)
    assert str(inside["time"]).endswith("+00:00")
    assert "correlation_id" not in outside


def test_an_exception_stays_on_the_line_without_the_secret_in_any_form(
    written: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """The formatter redacts its finished line: here without the redacting filter, whose work it backs up."""
    logger, output, handler = written
    handler.setFormatter(JsonFormatter(SecretRedactor([SECRET]).redact))
    try:
        raise RuntimeError(f"refused with {SECRET}\nsecond line\u2028third")
    except RuntimeError:
        logger.exception("the call failed")
    [entry] = json_lines(output)  # one line, though the traceback and the message hold line breaks
    text = output.getvalue()
    assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text
    assert entry["message"] == "the call failed"
    exception = str(entry["exception"])
    assert exception.startswith("Traceback (most recent call last):")
    assert f"RuntimeError: refused with {REDACTED}\nsecond line\u2028third" in exception


def test_a_text_line_names_the_correlation_id_after_the_logger(
    written: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, output, handler = written
    handler.setFormatter(TextFormatter(SecretRedactor([SECRET]).redact))
    with correlated("slack-Ev123"):
        logger.info("posted with %s", SECRET)
    logger.info("no update")
    first, second = output.getvalue().splitlines()
    assert first.endswith(f" INFO feedbackbot.test [slack-Ev123]: posted with {REDACTED}")
    assert second.endswith(" INFO feedbackbot.test: no update")


async def test_tasks_started_inside_carry_the_id_and_it_ends_with_the_block() -> None:
    with correlated("telegram-9"):
        inherited = await asyncio.create_task(asyncio.to_thread(current))
    assert inherited == "telegram-9"
    assert current() is None
    assert new_id("console").startswith("console-") and new_id("console") != new_id("console")


@pytest.mark.parametrize("given", ["json", "JSON", "text"])
def test_the_format_is_text_or_json_in_any_case(given: str) -> None:
    assert LoggingSettings.model_validate({"format": given}).format == given.lower()


def test_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        LoggingSettings.model_validate({"format": "xml"})
