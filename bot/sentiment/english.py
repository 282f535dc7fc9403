"""What the English analyzers share: other languages are 'unknown', and a complaint is a polarity below the
threshold."""

from __future__ import annotations

from bot.sentiment import Label, Sentiment, label_for
from bot.sentiment.language import reads_as_english


class EnglishAnalyzer:
    """Subclasses name themselves and score English text: (polarity -1..+1, subjectivity 0..1 or None)."""

    name: str

    def __init__(self, complaint_threshold: float) -> None:
        self.complaint_threshold = complaint_threshold

    def score(self, text: str) -> tuple[float, float | None]:
        raise NotImplementedError

    def analyze(self, text: str, language: str | None = None) -> Sentiment:
        if not reads_as_english(text, language):
            return Sentiment(0.0, None, Label.UNKNOWN, complaint=False, analyzer=self.name)
        polarity, subjectivity = self.score(text)
        return Sentiment(
            polarity=polarity,
            subjectivity=subjectivity,
            label=label_for(polarity),
            complaint=polarity < self.complaint_threshold,
            analyzer=self.name,
        )
