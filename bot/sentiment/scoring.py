"""One line of `feedbackbot score`: the JSON object printed for one text."""

from __future__ import annotations

from bot.sentiment import Analyzer

POLARITY_DECIMALS = 4


def score_text(analyzer: Analyzer, text: str, language: str | None = None) -> dict[str, object]:
    """polarity, label, complaint and analyzer of one text, ready for json.dumps."""
    sentiment = analyzer.analyze(text, language)
    return {
        "polarity": round(sentiment.polarity, POLARITY_DECIMALS),
        "label": sentiment.label.value,
        "complaint": sentiment.complaint,
        "analyzer": sentiment.analyzer,
    }
