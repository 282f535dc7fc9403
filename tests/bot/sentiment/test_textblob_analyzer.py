"""The baseline's behaviour, including the weakness the complaint detector exists for."""

from __future__ import annotations

import pytest

from bot.sentiment import Label
from bot.sentiment.textblob_analyzer import TextBlobAnalyzer


@pytest.fixture(scope="module")
def textblob() -> TextBlobAnalyzer:
    return TextBlobAnalyzer(complaint_threshold=-0.1)


def test_scores_polarity_and_subjectivity(textblob: TextBlobAnalyzer) -> None:
    result = textblob.analyze("The support was terrible")
    assert result.polarity == -1.0
    assert result.subjectivity == 1.0
    assert result.label is Label.NEGATIVE
    assert result.complaint
    assert result.analyzer == "textblob"


def test_handles_simple_negation(textblob: TextBlobAnalyzer) -> None:
    assert textblob.analyze("not good").polarity < 0


@pytest.mark.parametrize("text", ["Still waiting for my refund", "It doesn't work", "I was charged twice"])
def test_misses_plain_complaints_without_lexicon_words(textblob: TextBlobAnalyzer, text: str) -> None:
    result = textblob.analyze(text)
    assert result.polarity == 0.0
    assert not result.complaint


def test_other_languages_are_unknown(textblob: TextBlobAnalyzer) -> None:
    assert textblob.analyze("Очень плохо").label is Label.UNKNOWN
    assert textblob.analyze("terrible", "fr").label is Label.UNKNOWN
