"""VADER's compound score (vaderSentiment): a comparison analyzer for the benchmark and for operators."""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.sentiment.english import EnglishAnalyzer


class VaderAnalyzer(EnglishAnalyzer):
    """English polarity from VADER's compound score (-1..+1); other languages are 'unknown'."""

    name = "vader"

    def __init__(self, complaint_threshold: float) -> None:
        super().__init__(complaint_threshold)
        self.vader = SentimentIntensityAnalyzer()

    def score(self, text: str) -> tuple[float, float | None]:
        return float(self.vader.polarity_scores(text)["compound"]), None
