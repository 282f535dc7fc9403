from __future__ import annotations

import json

import pytest

from bot.sentiment import ANALYZER_NAMES, DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.sentiment.scoring import score_text


@pytest.mark.parametrize("name", ANALYZER_NAMES)
def test_every_listed_analyzer_can_be_made(name: str) -> None:
    analyzer = make_analyzer(name, DEFAULT_COMPLAINT_THRESHOLD)
    assert analyzer.name == name
    assert analyzer.analyze("The parcel never arrived and support was useless").complaint


def test_the_default_is_the_complaint_detector() -> None:
    assert DEFAULT_ANALYZER == "complaints"
    assert DEFAULT_ANALYZER in ANALYZER_NAMES


def test_an_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="complaints, textblob, vader"):
        make_analyzer("bert", DEFAULT_COMPLAINT_THRESHOLD)


def test_score_text_is_the_json_object_of_one_line() -> None:
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    scored = score_text(analyzer, "Still waiting for my refund")
    assert set(scored) == {"polarity", "label", "complaint", "analyzer"}
    assert json.loads(json.dumps(scored)) == {
        "polarity": scored["polarity"],
        "label": "negative",
        "complaint": True,
        "analyzer": "complaints",
    }


def test_score_text_passes_the_language_hint() -> None:
    analyzer = make_analyzer(DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD)
    assert score_text(analyzer, "Terrible", "ru") == {
        "polarity": 0.0,
        "label": "unknown",
        "complaint": False,
        "analyzer": "complaints",
    }
