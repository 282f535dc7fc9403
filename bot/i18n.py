"""The bot's own phrases, from the TOML catalogs in bot/locales/ (survey texts live in the survey files)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

FALLBACK_LANGUAGE = "en"
LOCALES = Path(__file__).with_name("locales")


@cache
def catalog(language: str) -> dict[str, str]:
    """The phrases of one language; empty for a language without a catalog."""
    path = LOCALES / f"{language}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def languages() -> list[str]:
    return sorted(path.stem for path in LOCALES.glob("*.toml"))


def base_language(language: str | None) -> str:
    """'pt-BR' -> 'pt'; None -> the fallback language."""
    return (language or FALLBACK_LANGUAGE).split("-")[0].split("_")[0].lower()


def translate(key: str, language: str | None, **params: object) -> str:
    """The phrase `key` in `language`, else in English, with {params} filled in."""
    phrase = catalog(base_language(language)).get(key) or catalog(FALLBACK_LANGUAGE)[key]
    return phrase.format(**params)


@cache
def words(key: str) -> dict[str, int]:
    """Typed words of every catalog for a `words_*` key, mapped to their position (numbers: their value)."""
    found: dict[str, int] = {}
    for language in languages():
        for position, word in enumerate(catalog(language).get(key, "").split("|")):
            if word:
                found.setdefault(word.lower(), position)
    return found
