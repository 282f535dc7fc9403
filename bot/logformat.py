"""How a log line looks: classic text, or one JSON object per line (`[logging] format = "json"`).

Both carry the correlation id of what was being handled (bot.correlation) and pass the finished line through
`redact`, so that no configured secret leaves in it, wherever in the record it sat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from bot.correlation import ATTRIBUTE as CORRELATION_ID

LogFormat = Literal["text", "json"]
Redact = Callable[[str], str]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as before; the id goes after the name


def unchanged(line: str) -> str:
    return line


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [correlation id]: message`, the traceback on the lines after it."""

    def __init__(self, redact: Redact = unchanged) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def formatMessage(self, record: logging.LogRecord) -> str:
        correlation_id = getattr(record, CORRELATION_ID, None)
        if not correlation_id:
            return super().formatMessage(record)
        return f"{record.asctime} {record.levelname} {record.name} [{correlation_id}]: {record.message}"

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, and correlation_id, exception and
    stack when there are. ASCII only, so that no character in a message (U+2028, say) splits the line."""

    def __init__(self, redact: Redact = unchanged) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if correlation_id := getattr(record, CORRELATION_ID, None):
            entry[CORRELATION_ID] = correlation_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.redact(json.dumps(entry, ensure_ascii=True))


def formatter(log_format: LogFormat, redact: Redact = unchanged) -> logging.Formatter:
    return JsonFormatter(redact) if log_format == "json" else TextFormatter(redact)
