"""`feedbackbot db backup`: a consistent copy of a live SQLite database, taken with SQLite's online backup API."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

PAGES_PER_STEP = 1024  # 4 MB at the default page size: the copy never holds a lock for long


class BackupError(Exception):
    """The backup could not be taken; the message says why, in one line."""


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> int:
    """Copies the database `source` to `target` as it was when the copy began; returns the copy's size in bytes.

    The copy reads one snapshot, held open while it goes, so that writers (never blocked in WAL mode) do not make it
    start over; it is written beside `target` and moved there when complete, so a failed backup leaves nothing."""
    if not source.is_file():
        raise BackupError(f"no database file {source}")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; pass --force to overwrite it")
    try:
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as error:
        raise BackupError(f"cannot write {target}: {error.strerror}") from None
    os.close(handle)
    try:
        _copy(source, Path(partial))
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _copy(source: Path, target: Path) -> None:
    try:
        with (
            contextlib.closing(
                sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
            ) as reader,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # the snapshot starts here
            reader.backup(copy, pages=PAGES_PER_STEP)
            reader.execute("COMMIT")
    except sqlite3.Error as error:
        raise BackupError(f"cannot back up {source}: {error}") from None
