"""Customer and employee words shown to staff: what every channel does to them before anything else."""

from __future__ import annotations

import re

# Zero-width characters and bidirectional controls: invisible, they can hide or reorder what follows them.
HIDDEN = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\u061c]")


def visible(text: str) -> str:
    """The words without the invisible characters that could disguise the rest of a staff message."""
    return HIDDEN.sub("", text)


def one_line(text: str) -> str:
    """The words on one line (every line break, of any kind, a space), so they cannot start a line of their own."""
    return " ".join(visible(text).split())


def quoted(text: str) -> str:
    """The words with each line (of any kind of line break) in quotes, so that none can pass for a line of the bot's
    own, such as a fake "Status: closed"."""
    return "\n".join(f"“{line}”" for line in visible(text).splitlines() if line.strip())
