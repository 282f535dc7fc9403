"""aiosqlite's connection, with each call run at once on the event loop's thread instead of a worker thread.

SQLite is an in-process library whose calls take microseconds; aiosqlite hands every cursor operation to a
thread and back, which cost ~40 thread round trips (~7 ms) per answer, several times the work itself. Running
them inline keeps SQLAlchemy's async API and the aiosqlite dialect unchanged. The price: a call that waits on
SQLite's lock blocks the loop, so the bot serialises its own writers (storage.db) and one bot process owns an
SQLite file (PostgreSQL is the engine for several processes).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import aiosqlite

ITER_CHUNK_SIZE = 64


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: runs each queued call immediately."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller, as the worker thread would
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its worker thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, ITER_CHUNK_SIZE)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start


def inline_creator(path: str) -> Callable[[], Any]:
    """The `async_creator` for create_async_engine: SQLAlchemy's aiosqlite dialect wraps what it returns."""

    async def connect() -> InlineConnection:
        connection = InlineConnection(partial(sqlite3.connect, path, check_same_thread=False))
        await connection
        return connection

    return connect
