"""What people talk about: the complaint categories and phrases of a period's negative comments against the previous
period's, and the comments whose words contradict their score, listed for a look."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from bot.sentiment.language import ENGLISH_FUNCTION_WORDS
from bot.untrusted import one_line
from storage.reports import Contradiction

TOP_THEMES = 10
WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
CLAUSE_END = re.compile(r"[.,;:!?()\n]")  # a phrase does not run across these


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    count: int  # in the period: cases (a category) or negative comments (a phrase)
    previous: int | None  # in the previous period of the same length; None without one (no --since)
    change: int | None  # count - previous


@dataclass(frozen=True, slots=True)
class Themes:
    categories: list[Theme]
    phrases: list[Theme]
    comments_read: int  # the negative comments the phrases come from (the latest, capped)
    previous_since: datetime | None
    previous_until: datetime | None


@dataclass(frozen=True, slots=True)
class ContradictionRow:
    """A score that its comment contradicts; `words` with invisible characters and line breaks removed."""

    started_at: datetime | None  # None for an anonymous survey: the time could single its author out
    score: int
    sentiment: str
    words: str


def phrases(comments: Iterable[str]) -> Counter[str]:
    """Two-word phrases without a function word ("parcel late", "support team"), each counted once per comment."""
    counted: Counter[str] = Counter()
    for comment in comments:
        counted.update({pair for clause in CLAUSE_END.split(comment.lower()) for pair in _pairs(clause)})
    return counted


def _pairs(clause: str) -> Iterator[str]:
    for first, second in pairwise(WORD.findall(clause)):
        if first not in ENGLISH_FUNCTION_WORDS and second not in ENGLISH_FUNCTION_WORDS:
            yield f"{first} {second}"


def ranked(current: Iterable[tuple[str, int]], previous: Iterable[tuple[str, int]] | None) -> list[Theme]:
    """The period's most frequent themes, most frequent first, each with its count in the previous period."""
    before = None if previous is None else dict(previous)
    top = sorted(current, key=lambda theme: (-theme[1], theme[0]))[:TOP_THEMES]
    return [
        Theme(
            name,
            count,
            None if before is None else before.get(name, 0),
            None if before is None else count - before.get(name, 0),
        )
        for name, count in top
    ]


def contradiction_rows(found: Iterable[Contradiction]) -> list[ContradictionRow]:
    return [
        ContradictionRow(None if row.anonymous else row.started_at, row.score, row.label, one_line(row.text))
        for row in found
    ]
