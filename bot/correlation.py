"""The correlation id: one per handled update, request, terminal line or background round, on every log record made
while handling it and on the outbox messages it queues, so that their sends are logged under it too.

An id names the event, never a person: `telegram-<update_id>`, `slack-<event_id>`, or a prefix and a random suffix.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

ATTRIBUTE = "correlation_id"  # the log record's attribute that holds it
_current: ContextVar[str | None] = ContextVar(ATTRIBUTE, default=None)


def current() -> str | None:
    """The id of what is being handled here, if anything is."""
    return _current.get()


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Everything logged or queued inside, tasks started inside included, carries `correlation_id`; None: no id,
    for a signal handler, which runs in whatever context it interrupted."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def begin(correlation_id: str) -> None:
    """Sets the id for the rest of the current task, for a hook that cannot wrap the work it precedes (a bolt
    middleware); the task's end ends it."""
    _current.set(correlation_id)


def new_id(prefix: str) -> str:
    """A fresh id for something that has none of its own, such as a terminal line or a round of the sweep."""
    return f"{prefix}-{secrets.token_hex(4)}"


class CorrelatedRecords:
    """A log record factory: each record gets the correlation id of the context it is made in (None outside)."""

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        setattr(record, ATTRIBUTE, _current.get())
        return record


def install() -> None:
    """Puts the correlation id on every log record from now on, whoever logs it; installing again changes nothing."""
    make = logging.getLogRecordFactory()
    if not isinstance(make, CorrelatedRecords):
        logging.setLogRecordFactory(CorrelatedRecords(make))
