"""Benchmark of the sentiment analyzers on the human-rated sets: `make bench`, or
`.venv/bin/python bench/sentiment.py [DATA_DIR]`.

Each analyzer runs at its reference complaint threshold: the baselines as the data README measured them
(complaint = negative label: TextBlob polarity < 0, VADER compound < -0.05), the complaint detector at the
project's default.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.sentiment import DEFAULT_COMPLAINT_THRESHOLD, make_analyzer
from bot.sentiment.evaluation import Figures, evaluate, load_rated_texts

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentiment"
SETS = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
REFERENCE_THRESHOLDS = {"textblob": 0.0, "vader": -0.05, "complaints": DEFAULT_COMPLAINT_THRESHOLD}
COLUMNS = ("set", "analyzer", "threshold", "r", "acc", "macroF1", "cP", "cR", "cF1", "AUC", "texts/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA_DIR)
    data_dir: Path = parser.parse_args().data_dir
    print(" ".join(f"{column:>10}" for column in COLUMNS))
    for set_name, file_name in SETS.items():
        rated = load_rated_texts(data_dir / file_name)
        for analyzer_name, threshold in REFERENCE_THRESHOLDS.items():
            figures = evaluate(make_analyzer(analyzer_name, threshold), rated)
            print(_row(set_name, analyzer_name, threshold, figures))


def _row(set_name: str, analyzer_name: str, threshold: float, figures: Figures) -> str:
    ratios = (
        figures.pearson_r,
        figures.accuracy,
        figures.macro_f1,
        figures.complaint_precision,
        figures.complaint_recall,
        figures.complaint_f1,
        figures.roc_auc,
    )
    cells = [f"{set_name:>10}", f"{analyzer_name:>10}", f"{threshold:>10.3f}"]
    cells += [f"{ratio:>10.3f}" for ratio in ratios]
    cells.append(f"{figures.texts_per_second:>10,.0f}")
    return " ".join(cells)


if __name__ == "__main__":
    main()
