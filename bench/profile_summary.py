"""Where a process's CPU went, from py-spy's collapsed stacks (`py-spy record --format raw --function`).

Run: `.venv/bin/python bench/profile_summary.py FILE [--top N]`; bench/hotpath.py --profile calls it.
Own time: samples whose innermost frame is the function. Cumulative: samples with the function anywhere on the
stack (counted once per sample, however deep it recurses). Percentages are of all samples: py-spy samples only
threads that run Python (idle ones are left out unless it is given --idle), so they are shares of the CPU.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

PROJECT = str(Path(__file__).resolve().parents[1]) + "/"


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """Each line is `frame;frame;...;innermost COUNT`, a frame `function (file:line)`."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(shorten(frame) for frame in stack.split(";"))] += int(count)
    return stacks


def shorten(frame: str) -> str:
    """`handle (bot/engine.py:40)` for the project, `handle_async_request (httpcore/_async/...)` for libraries."""
    for marker in ("site-packages/", "/python3.11/", PROJECT):
        if marker in frame:
            name, _, where = frame.partition(" (")
            return f"{name} ({where.split(marker, 1)[1]}"
    return frame


# Own time by where the innermost frame's code lives: the first of these found in the frame.
AREAS = (
    ("importlib", "failed imports (httpcore's `import sniffio` per request)"),
    ("httpcore/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("httpx/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("h11/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("anyio/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("telegram/", "python-telegram-bot"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlmodel/", "SQLModel, pydantic"),
    ("pydantic", "SQLModel, pydantic"),
    ("aiosqlite/", "SQLite driver"),
    ("sqlite", "SQLite driver"),
    ("asyncpg/", "asyncpg"),
    ("textblob/", "TextBlob"),
    ("asyncio/", "event loop, sockets"),
    ("selectors", "event loop, sockets"),
    ("json/", "json"),
    ("bot/", "feedbackbot: bot/"),
    ("handlers/", "feedbackbot: handlers/"),
    ("storage/", "feedbackbot: storage/"),
)


def area(frame: str) -> str:
    return next((name for marker, name in AREAS if marker in frame), "other")


def summarize(path: Path, top: int = 30) -> None:
    stacks = read_stacks(path)
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[stack[-1]] += count
        areas[area(stack[-1])] += count
        roots[stack[0]] += count
        for frame in set(stack):
            cumulative[frame] += count
    print(f"\nprofile {path}: {total} samples")
    # Code that SQLAlchemy runs in a greenlet shows as a stack of its own, cut off from the coroutine awaiting it.
    print("stacks by their outermost frame (greenlet stacks are cut off from their callers):")
    for frame, count in roots.most_common(5):
        print(f"  {count / total:6.1%}  {frame}")
    print("own time by library:")
    for name, count in areas.most_common():
        print(f"  {count / total:6.1%}  {name}")
    for title, counts in (("own time", own), ("cumulative time", cumulative)):
        print(f"top {top} by {title}:")
        for frame, count in counts.most_common(top):
            print(f"  {count / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=30)
    arguments = parser.parse_args()
    summarize(arguments.file, arguments.top)


if __name__ == "__main__":
    main()
