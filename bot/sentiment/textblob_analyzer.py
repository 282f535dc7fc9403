"""TextBlob's pattern-based polarity: the baseline analyzer."""

from __future__ import annotations

from textblob import TextBlob

from bot.sentiment import Label, Sentiment, label_for
from bot.sentiment.language import reads_as_english


class TextBlobAnalyzer:
    """English polarity and subjectivity from TextBlob's lexicon; other languages are 'unknown'."""

    name = "textblob"

    def __init__(self, complaint_threshold: float) -> None:
        self.complaint_threshold = complaint_threshold

    def analyze(self, text: str, language: str | None = None) -> Sentiment:
        if not reads_as_english(text, language):
            return Sentiment(0.0, None, Label.UNKNOWN, complaint=False, analyzer=self.name)
        polarity, subjectivity = TextBlob(text).sentiment
        return Sentiment(
            polarity=float(polarity),
            subjectivity=float(subjectivity),
            label=label_for(polarity),
            complaint=polarity < self.complaint_threshold,
            analyzer=self.name,
        )
