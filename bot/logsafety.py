"""No secret in any log line: a logging filter that redacts the configured secrets from every record it sees."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"


def _written_forms(secret: str) -> set[str]:
    """The secret as text, URL path, query string, repr and JSON show it (a token sits in every Bot API URL)."""
    return {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
    }


class SecretRedactor(logging.Filter):
    """Replaces each secret in a record's message, arguments, exception and stack text; drops no record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms = {form for secret in secrets if secret for form in _written_forms(secret)}
        # Longest first, so that a secret containing another is redacted whole.
        alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
        self._pattern = re.compile(alternatives) if alternatives else None

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        # Text arguments are redacted in place, so that formatters which read the arguments (uvicorn's access
        # log) still find them; a secret left in the formatted message (inside another object) flattens it.
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the message: the formatter reports it
            message = f"{record.msg} {record.args}"
        if self._pattern.search(message):
            record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)  # formatters reuse exc_text
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# Loggers that uvicorn gives handlers of its own, not propagating to the root; a filter on the logger itself
# outlives the logging configuration uvicorn applies when the server starts.
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def install(secrets: Iterable[str]) -> SecretRedactor:
    """Puts one redactor with these secrets on every handler of the root logger, which every library logger
    propagates to, and on the loggers that keep their own handlers; a redactor installed before is replaced.
    Returns it, for the formatters to redact their finished lines too."""
    redactor = SecretRedactor(secrets)
    guarded: list[logging.Filterer] = [*logging.getLogger().handlers]
    guarded += [logging.getLogger(name) for name in OWN_HANDLER_LOGGERS]
    for filterer in guarded:
        for old in [each for each in filterer.filters if isinstance(each, SecretRedactor)]:
            filterer.removeFilter(old)
        filterer.addFilter(redactor)
    return redactor
