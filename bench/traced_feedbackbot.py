"""`feedbackbot run` with a SIGUSR1 handler that reports its memory: the process bench/hotpath.py breaks down.

Run: `python bench/traced_feedbackbot.py FOLDER` where `feedbackbot run` would run (a project folder). It installs two
signal handlers, then calls the command line (handlers.cli:app) with `run`: the same process as `feedbackbot run`,
but for the console script's freezing of what importing it made (handlers/main.py), which would hide those objects from
gc.get_objects. tracemalloc is off until SIGUSR2 starts it (FRAMES deep; then FOLDER/tracing appears):
it makes every allocation 10 to 30 times slower here, so the bench traces only the last slice of its load. On the
Nth SIGUSR1 it writes FOLDER/N.json, then FOLDER/N.done (what the bench waits for):
- python (when tracing): the bytes still held that were allocated since tracing started, by library (the innermost
  frame outside the standard library: a package, bot/, storage/, handlers/, else the standard library's module) and
  by line (the allocating file:line);
- native: what tracemalloc does not see or adds: its own bookkeeping, SQLite's allocations (sqlite3_memory_used:
  page caches, statements), glibc malloc's bytes free but held (mallinfo2);
- caches: the caches this process holds and what bounds each (SQLAlchemy's compiled statements, SQLite's page cache
  per connection, python-telegram-bot's per-chat and per-user data, the per-chat pacers);
- containers: the largest dicts, lists, sets and deques in the heap, each named by what holds it, with its bytes and
  its items': a structure that grows with the open surveys shows here with a length near their number.
"""

from __future__ import annotations

import ctypes
import gc
import json
import signal
import sqlite3
import sys
import sysconfig
import tracemalloc
from collections import Counter, deque
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

FRAMES = 4  # enough to get past the standard library to the package that asked for the memory
LINES_KEPT = 400  # the biggest allocating lines written; the bench diffs two reports line by line
CONTAINERS_KEPT = 12
ROOT = Path(__file__).resolve().parents[1]
STDLIB = sysconfig.get_paths()["stdlib"]


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def library(filename: str) -> str:
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith(str(ROOT)):
        return Path(filename).relative_to(ROOT).parts[0]
    if filename.startswith(STDLIB):
        return "stdlib " + Path(filename).relative_to(STDLIB).parts[0].removesuffix(".py")
    return filename


def python_allocations() -> dict[str, Any]:
    own = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__, all_frames=True)]
    snapshot = tracemalloc.take_snapshot().filter_traces(own)  # not the reports' own allocations
    by_library: Counter[str] = Counter()
    for trace in snapshot.traces:
        frames = [frame.filename for frame in reversed(trace.traceback)]  # innermost first
        owner = next((name for name in frames if not name.startswith(STDLIB)), frames[0])
        by_library[library(owner)] += trace.size
    lines = snapshot.statistics("lineno")[:LINES_KEPT]
    by_line = {f"{s.traceback[0].filename}:{s.traceback[0].lineno}": [s.size, s.count] for s in lines}
    return {"traced": tracemalloc.get_traced_memory()[0], "by_library": dict(by_library), "by_line": by_line}


def native() -> dict[str, int]:
    libsqlite = ctypes.CDLL("libsqlite3.so.0")  # the library _sqlite3 loaded: dlopen hands back the same one
    libsqlite.sqlite3_memory_used.restype = ctypes.c_int64
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    malloc = libc.mallinfo2()
    return {
        "tracemalloc": tracemalloc.get_tracemalloc_memory(),
        "sqlite": libsqlite.sqlite3_memory_used(),
        "malloc_in_use": malloc.uordblks + malloc.hblkhd,
        "malloc_free_held": malloc.fordblks,
    }


def caches(objects: list[object]) -> list[str]:
    """Each cache found in the heap: what it holds now and what bounds it."""
    found = []
    for thing in objects:
        kind = type(thing)
        name = f"{kind.__module__}.{kind.__qualname__}"
        if name == "sqlalchemy.engine.base.Engine":
            cache = thing._compiled_cache
            held = f"{len(cache)} statements, at most {cache.capacity} (create_engine's query_cache_size)"
            found.append(f"SQLAlchemy compiled statements ({thing.url.get_backend_name()}): {held}")
        elif kind is sqlite3.Connection:
            pages = thing.execute("PRAGMA cache_size").fetchone()[0]
            bound = f"{-pages} KiB" if pages < 0 else f"{pages} pages"
            found.append(f"SQLite page cache, one connection: at most {bound} (PRAGMA cache_size)")
        elif name == "telegram.ext._application.Application":
            data = f"{len(thing.chat_data)} chats' chat_data, {len(thing.user_data)} users' user_data"
            found.append(f"python-telegram-bot Application: {data} (filled only when a handler uses them)")
            marked = thing._chat_ids_to_be_updated_in_persistence, thing._user_ids_to_be_updated_in_persistence
            found.append(
                f"python-telegram-bot Application: {len(marked[0])} chat ids and {len(marked[1])} user ids marked for "
                "a persistence update (every update's; only a persistence empties them, and the bot has none)"
            )
        elif name == "bot.pacing.Pacer":
            limit = sys.modules["bot.pacing"].STALE_KEYS_LIMIT
            due = f"{len(thing._due)} chats"
            found.append(f"per-chat pacer: {due}; past {limit} those whose interval has passed are dropped")
    return sorted(found)


def owner_of(container: object, holder: object) -> str:
    """The holder's type and the attribute or key under which it holds the container."""
    if isinstance(holder, dict):
        key = next((k for k, v in holder.items() if v is container), "?")
        if isinstance(module := holder.get("__name__"), str):
            return f"{module}.{key}"  # a module's global
        instance = next((r for r in gc.get_referrers(holder) if getattr(r, "__dict__", None) is holder), None)
        held_by = f"{type(instance).__module__}.{type(instance).__qualname__}" if instance is not None else "dict"
        return f"{held_by}[{key!r}]"
    names = list(vars(holder)) if hasattr(holder, "__dict__") else []
    names += [name for kind in type(holder).__mro__ for name in getattr(kind, "__slots__", ())]
    attribute = next((name for name in names if getattr(holder, name, None) is container), "?")
    if isinstance(holder, ModuleType):
        return f"{holder.__name__}.{attribute}"
    return f"{type(holder).__module__}.{type(holder).__qualname__}.{attribute}"


def largest_containers(objects: list[object]) -> list[tuple[str, str, int, int]]:
    """The longest dicts, lists, sets and deques reachable from a tracked object (those holding only atoms are not
    tracked by gc themselves), with what holds them."""
    seen: dict[int, tuple[object, object]] = {}
    for holder in objects:
        if isinstance(holder, FrameType):
            continue
        for item in gc.get_referents(holder):
            if isinstance(item, dict | list | set | deque) and len(item) >= 100 and id(item) not in seen:
                seen[id(item)] = (item, holder)
    longest = sorted(seen.values(), key=lambda pair: -len(pair[0]))[:CONTAINERS_KEPT]
    return [(owner_of(item, holder), type(item).__name__, len(item), size_of(item)) for item, holder in longest]


def size_of(container: Any) -> int:
    """The container's bytes and its items' (not what they hold in turn)."""
    items = [*container.keys(), *container.values()] if isinstance(container, dict) else container
    return sys.getsizeof(container) + sum(sys.getsizeof(item) for item in items)


def report(folder: Path, number: int) -> None:
    python = python_allocations() if tracemalloc.is_tracing() else None  # before the report's own allocations
    written = {"python": python, "native": native()}
    objects = gc.get_objects()
    written |= {"caches": caches(objects), "containers": largest_containers(objects)}
    (folder / f"{number}.json").write_text(json.dumps(written))
    (folder / f"{number}.done").touch()


def start_tracing(folder: Path) -> None:
    tracemalloc.start(FRAMES)
    (folder / "tracing").touch()


def main() -> None:
    folder = Path(sys.argv[1])
    reports = iter(range(1, 1_000_000))
    signal.signal(signal.SIGUSR1, lambda *_: report(folder, next(reports)))
    signal.signal(signal.SIGUSR2, lambda *_: start_tracing(folder))
    from handlers.cli import app

    sys.argv = ["feedbackbot", "run"]
    app()


if __name__ == "__main__":
    main()
