"""The detector's complaint F1 on the shared human-rated sets must not fall: a change that breaks detection fails.

Floors sit just below the measured figures at the default threshold (bench/sentiment.py): 0.870 / 0.607 / 0.610
(tweets / movie / nyt). The references (complaint = negative label): TextBlob 0.659 / 0.516 / 0.394 and VADER
0.883 / 0.518 / 0.582. The movie and nyt floors are above both; the tweets floor is not, because the detector
does not beat VADER there (VADER's lexicon and rules were built and validated on that very set). On the
customer-feedback answers we labelled (bench/customer_feedback.tsv, a development set), the detector must keep
its lead over both baselines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sentiment import make_analyzer
from bot.sentiment.complaint_analyzer import ComplaintAnalyzer
from bot.sentiment.evaluation import complaint_figures, evaluate, load_labelled_texts, load_rated_texts

DATA_DIR = Path(__file__).resolve().parents[2] / "reference" / "data" / "sentiment"
CUSTOMER_FEEDBACK = Path(__file__).resolve().parents[3] / "bench" / "customer_feedback.tsv"
CUSTOMER_FEEDBACK_F1_FLOOR = 0.92  # measured 0.942
COMPLAINT_F1_FLOORS = {
    "tweets_GroundTruth.txt": 0.865,
    "movieReviewSnippets_GroundTruth.txt": 0.600,
    "nytEditorialSnippets_GroundTruth.txt": 0.605,
}


@pytest.mark.parametrize(("file_name", "floor"), COMPLAINT_F1_FLOORS.items())
def test_complaint_f1_stays_above_its_floor(complaints: ComplaintAnalyzer, file_name: str, floor: float) -> None:
    figures = evaluate(complaints, load_rated_texts(DATA_DIR / file_name))
    assert figures.complaint_f1 >= floor


def test_the_detector_leads_on_labelled_customer_feedback(complaints: ComplaintAnalyzer) -> None:
    labelled = load_labelled_texts(CUSTOMER_FEEDBACK)
    *_, detector_f1 = complaint_figures(complaints, labelled)
    *_, vader_f1 = complaint_figures(make_analyzer("vader", -0.05), labelled)
    *_, textblob_f1 = complaint_figures(make_analyzer("textblob", 0.0), labelled)
    assert detector_f1 >= CUSTOMER_FEEDBACK_F1_FLOOR
    assert detector_f1 > max(vader_f1, textblob_f1) + 0.2
