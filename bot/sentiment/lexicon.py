"""The word lists of the complaint detector: general sentiment lexicons plus our customer-service lexicon.

Every valence is on the scale of VADER's lexicon, the mean human rating of the word from -4 to +4. Sources, from
weakest to strongest claim on a word:
1. TextBlob's adjective lexicon (pattern, PDDL; polarity -1..+1, rescaled), for adjectives VADER lacks;
2. VADER's lexicon (MIT), human-rated words, slang and emoticons;
3. complaint_lexicon.toml (ours): customer-service words, multi-word phrases, negators and degree words.
Degree words are VADER's list (its BOOSTER_DICT) with ours over it. All of it ships inside installed packages:
nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import tomllib
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from statistics import fmean

from vaderSentiment.vaderSentiment import BOOSTER_DICT

from bot.sentiment.tokens import PLAIN_WORD, phrase_words

# Pattern's polarity -1..+1 is mapped to -2..+2, half of VADER's range: it averages a word's senses, some of them
# plain descriptions ("cold" water, a "base" camp), so it is a weaker claim than VADER's human ratings.
PATTERN_TO_VADER_SCALE = 2.0
# Pattern rates many plain descriptive adjectives ("new", "many", "own") with a little polarity and a low
# subjectivity; only opinion words (subjective enough and clearly signed) are taken.
PATTERN_MIN_SUBJECTIVITY = 0.5
PATTERN_MIN_POLARITY = 0.3


@dataclass(frozen=True, slots=True)
class Lexicon:
    valences: dict[str, float]  # single lower-case words and emoticons
    phrases: dict[tuple[str, ...], float]  # multi-word expressions, matched before their words
    intensifiers: dict[str, float]  # degree words: added to the magnitude of a sentiment word just after them
    degree_phrases: dict[tuple[str, ...], float]  # multi-word degree words: "kind of", "sort of"
    negators: frozenset[str]
    problems: frozenset[str]  # "problem", "issue": what a remedy reaches
    remedied: frozenset[str]  # "fixed", "resolving": a problem they reach is good news
    remedies: frozenset[str]  # "fix", "resolve": the same, but only after a negation ("did not fix")
    clause_breaks: frozenset[str]
    emoticons: frozenset[str]  # the lexicon's tokens made of punctuation, like ":-(", matched before words
    subjectivities: dict[str, float]  # TextBlob's 0 (objective) .. 1 (subjective), of every word it rates


def vader_valences() -> dict[str, float]:
    """VADER's lexicon file: `token <TAB> mean valence <TAB> std <TAB> raw ratings`."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    valences = {}
    for line in text.splitlines():
        token, valence, *_ = line.split("\t")
        valences[token] = float(valence)
    return valences


def pattern_senses() -> dict[str, tuple[float, float]]:
    """TextBlob's adjective lexicon: (polarity, subjectivity) of each word, the mean over its senses."""
    path = _package_folder("textblob") / "en" / "en-sentiment.xml"
    senses: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for word in ElementTree.fromstring(path.read_bytes()).iter("word"):
        senses[word.attrib["form"].lower()].append((float(word.attrib["polarity"]), float(word.attrib["subjectivity"])))
    return {form: (fmean(p for p, _ in rated), fmean(s for _, s in rated)) for form, rated in senses.items()}


def pattern_valences(senses: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The words of TextBlob's lexicon that read as opinions, on VADER's scale."""
    return {
        form: polarity * PATTERN_TO_VADER_SCALE
        for form, (polarity, subjectivity) in senses.items()
        if abs(polarity) >= PATTERN_MIN_POLARITY and subjectivity >= PATTERN_MIN_SUBJECTIVITY
    }


def _package_folder(package: str) -> Path:
    """Where an installed package lies, found without importing it (importing textblob loads nltk: a second)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is a dependency"
    return Path(spec.origin).parent


def vader_degree_words(rated: dict[str, float], negators: frozenset[str]) -> dict[str, float]:
    """VADER's degree words, less those our lexicon rates as sentiment words or reads as negations."""
    return {word: step for word, step in BOOSTER_DICT.items() if word not in rated and word not in negators}


@cache
def load_lexicon() -> Lexicon:
    """The merged lexicon, built once per process."""
    ours = tomllib.loads(
        resources.files("bot.sentiment").joinpath("complaint_lexicon.toml").read_text(encoding="utf-8")
    )
    senses = pattern_senses()
    entries = pattern_valences(senses) | vader_valences() | ours["words"]
    phrases = {
        phrase_words(phrase): valence for phrase, valence in (entries | ours["phrases"]).items() if " " in phrase
    }
    negators = frozenset(ours["negators"])
    degree_words = vader_degree_words(entries, negators) | ours["intensifiers"]
    return Lexicon(
        valences={word: valence for word, valence in entries.items() if " " not in word},
        phrases=phrases,
        intensifiers={word: step for word, step in degree_words.items() if " " not in word},
        degree_phrases={phrase_words(words): step for words, step in degree_words.items() if " " in words},
        negators=negators,
        problems=frozenset(ours["problems"]),
        remedied=frozenset(ours["remedied"]),
        remedies=frozenset(ours["remedies"]),
        clause_breaks=frozenset(ours["clause_breaks"]),
        emoticons=frozenset(token for token in entries if not PLAIN_WORD.fullmatch(token)),
        subjectivities={form: subjectivity for form, (_, subjectivity) in senses.items()},
    )
