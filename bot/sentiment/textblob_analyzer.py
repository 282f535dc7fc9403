"""TextBlob's pattern-based polarity: the baseline analyzer."""

from __future__ import annotations

from textblob import TextBlob

from bot.sentiment.english import EnglishAnalyzer


class TextBlobAnalyzer(EnglishAnalyzer):
    """English polarity and subjectivity from TextBlob's lexicon; other languages are 'unknown'."""

    name = "textblob"

    def score(self, text: str) -> tuple[float, float | None]:
        polarity, subjectivity = TextBlob(text).sentiment
        return float(polarity), float(subjectivity)
