"""VADER's compound score (vaderSentiment): a comparison analyzer for the benchmark and for operators."""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.sentiment import Label, Sentiment, label_for
from bot.sentiment.language import reads_as_english


class VaderAnalyzer:
    """English polarity from VADER's compound score (-1..+1); other languages are 'unknown'."""

    name = "vader"

    def __init__(self, complaint_threshold: float) -> None:
        self.complaint_threshold = complaint_threshold
        self.vader = SentimentIntensityAnalyzer()

    def analyze(self, text: str, language: str | None = None) -> Sentiment:
        if not reads_as_english(text, language):
            return Sentiment(0.0, None, Label.UNKNOWN, complaint=False, analyzer=self.name)
        polarity = float(self.vader.polarity_scores(text)["compound"])
        return Sentiment(
            polarity=polarity,
            subjectivity=None,
            label=label_for(polarity),
            complaint=polarity < self.complaint_threshold,
            analyzer=self.name,
        )
