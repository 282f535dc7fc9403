"""Splitting a text into the tokens the complaint detector scores."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

# A word may hold apostrophes and hyphens ("it's", "rip-off"); clause punctuation and emoji are tokens too.
PLAIN_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
WORD_OR_MARK = re.compile(PLAIN_WORD.pattern + r"|[.,;:!?]|[\u2600-\u27bf\U0001f300-\U0001faff]")
# Addresses and user names carry no sentiment, even when a piece of them looks like a word ("ow.ly").
NOT_WORDS = ("http://", "https://", "www.", "@")
# Stems of "n't" whose spelling changes: "can't" -> "can not", "won't" -> "will not".
IRREGULAR_NOT_STEMS = {"ca": "can", "wo": "will", "ai": "is", "sha": "shall"}
# Frequent contractions typed without the apostrophe in chats.
APOSTROPHE_LESS_NOT = frozenset(
    [
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "cant",
        "couldnt",
        "wouldnt",
        "shouldnt",
        "wont",
        "havent",
        "hasnt",
        "hadnt",
        "aint",
    ]
)


@dataclass(frozen=True, slots=True)
class Token:
    word: str  # lower case, contractions expanded
    shouting: bool  # written in capitals


def tokenize(text: str, emoticons: frozenset[str]) -> list[Token]:
    """Emoticons, words, clause punctuation and emoji; "doesn't" becomes "does" + "not"."""
    pieces: list[str] = []
    for chunk in html.unescape(text).replace("\u2019", "'").split():
        if chunk.startswith(NOT_WORDS):
            continue
        if chunk.lower() in emoticons:
            pieces.append(chunk)
        else:
            pieces.extend(WORD_OR_MARK.findall(chunk))
    # Capitals emphasise a word only when the rest of the text is not in capitals too.
    mixed_case = any(not piece.isupper() for piece in pieces if piece.isalpha())
    tokens: list[Token] = []
    for piece in pieces:
        shouting = mixed_case and len(piece) > 1 and piece.isupper()
        tokens.extend(Token(word, shouting) for word in _expand_not(piece.lower()))
    return tokens


def phrase_words(phrase: str) -> tuple[str, ...]:
    """A lexicon phrase as the tokens it matches: "can't stand" -> ("can", "not", "stand")."""
    return tuple(word for piece in phrase.lower().split() for word in _expand_not(piece))


def _expand_not(word: str) -> Iterator[str]:
    if word.endswith("n't"):
        stem = word[:-3]
    elif word in APOSTROPHE_LESS_NOT:
        stem = word[:-2]
    else:
        yield word
        return
    yield IRREGULAR_NOT_STEMS.get(stem, stem)
    yield "not"
