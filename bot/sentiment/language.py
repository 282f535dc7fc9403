"""Cheap detection of text the English analyzers cannot read: the channel's language hint, then the script, then
the function words of the common Latin-script languages."""

from __future__ import annotations

import re
import tomllib
from importlib import resources

# Letters past Latin Extended-B (U+024F) belong to other scripts: Greek, Cyrillic, Arabic, Hebrew, CJK, ...
LAST_LATIN_LETTER = "\u024f"
WORD = re.compile(r"[^\W\d_]+")

_FUNCTION_WORDS = tomllib.loads(
    resources.files("bot.sentiment").joinpath("function_words.toml").read_text(encoding="utf-8")
)
ENGLISH_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS["english"])
FOREIGN_FUNCTION_WORDS = frozenset(word for words in _FUNCTION_WORDS["foreign"].values() for word in words)


def reads_as_english(text: str, language: str | None = None) -> bool:
    """False when the hint names another language, the letters are mostly non-Latin, or the text has more
    foreign function words than English ones."""
    if language and language.split("-")[0].split("_")[0].lower() != "en":
        return False
    if not text.isascii() and not _mostly_latin(text):
        return False
    words = [word.lower() for word in WORD.findall(text)]
    foreign = sum(word in FOREIGN_FUNCTION_WORDS for word in words)
    english = sum(word in ENGLISH_FUNCTION_WORDS for word in words)
    return foreign <= english


def _mostly_latin(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    other_script = sum(char > LAST_LATIN_LETTER for char in letters)
    return other_script * 2 <= len(letters)
