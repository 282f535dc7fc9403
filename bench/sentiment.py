"""Benchmark of the sentiment analyzers on the human-rated sets: `make bench`, or
`.venv/bin/python bench/sentiment.py [DATA_DIR]`.

Each analyzer runs at its reference complaint threshold: the baselines as the data README measured them
(complaint = negative label: TextBlob polarity < 0, VADER compound < -0.05), the complaint detector at the
project's default. A second table picks the threshold on two sets and reports complaint F1 on the third
(leave one set out), so that a threshold chosen on these sets is judged on a set it was not chosen on. A last table
gives the detector's complaint F1 margin over the better of the two baselines on each set, and the very last the
complaint figures on bench/customer_feedback.tsv, customer-feedback answers labelled by us (a development set: see
its header).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.sentiment import DEFAULT_COMPLAINT_THRESHOLD, Analyzer, make_analyzer
from bot.sentiment.evaluation import (
    Figures,
    RatedText,
    complaint_figures,
    evaluate,
    leave_one_set_out,
    load_labelled_texts,
    load_rated_texts,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "sentiment"
CUSTOMER_FEEDBACK = Path(__file__).with_name("customer_feedback.tsv")
SETS = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
REFERENCE_THRESHOLDS = {"textblob": 0.0, "vader": -0.05, "complaints": DEFAULT_COMPLAINT_THRESHOLD}
BASELINES = ("textblob", "vader")
# Candidate thresholds for leave-one-set-out: round steps, all inside the negative label (polarity <= -0.05), since
# a text that does not read as negative is no complaint.
THRESHOLD_GRID = (-0.05, -0.1, -0.15, -0.2, -0.25, -0.3)
CROSS_SET_ANALYZERS = ("complaints", "vader")
COLUMNS = ("set", "analyzer", "threshold", "r", "acc", "macroF1", "cP", "cR", "cF1", "AUC", "texts/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA_DIR)
    data_dir: Path = parser.parse_args().data_dir
    rated_sets = {set_name: load_rated_texts(data_dir / file_name) for set_name, file_name in SETS.items()}
    analyzers = {name: make_analyzer(name, threshold) for name, threshold in REFERENCE_THRESHOLDS.items()}

    print(" ".join(f"{column:>10}" for column in COLUMNS))
    complaint_f1: dict[tuple[str, str], float] = {}
    for set_name, rated in rated_sets.items():
        for analyzer_name, analyzer in analyzers.items():
            figures = evaluate(analyzer, rated)
            complaint_f1[set_name, analyzer_name] = figures.complaint_f1
            print(_row(set_name, analyzer_name, REFERENCE_THRESHOLDS[analyzer_name], figures))

    print("\nleave one set out: threshold chosen on the other two sets, complaint F1 on the held-out set")
    print(" ".join(f"{column:>10}" for column in ("held out", "analyzer", "threshold", "cF1")))
    for analyzer_name in CROSS_SET_ANALYZERS:
        scored = {name: _polarities_and_means(analyzers[analyzer_name], rated) for name, rated in rated_sets.items()}
        for held in leave_one_set_out(scored, THRESHOLD_GRID):
            print(f"{held.set_name:>10} {analyzer_name:>10} {held.threshold:>10.3f} {held.complaint_f1:>10.3f}")

    print("\ncomplaint F1 margin of the detector (default threshold) over the better baseline")
    print(" ".join(f"{column:>10}" for column in ("set", "complaints", "best base", "margin")))
    for set_name in rated_sets:
        ours = complaint_f1[set_name, "complaints"]
        best = max(complaint_f1[set_name, baseline] for baseline in BASELINES)
        print(f"{set_name:>10} {ours:>10.3f} {best:>10.3f} {ours - best:>+10.3f}")

    print(f"\ncustomer feedback labelled by us ({CUSTOMER_FEEDBACK.name}, a development set)")
    print(" ".join(f"{column:>10}" for column in ("analyzer", "cP", "cR", "cF1")))
    labelled = load_labelled_texts(CUSTOMER_FEEDBACK)
    for analyzer_name, analyzer in analyzers.items():
        ratios = complaint_figures(analyzer, labelled)
        print(f"{analyzer_name:>10} " + " ".join(f"{ratio:>10.3f}" for ratio in ratios))


def _polarities_and_means(analyzer: Analyzer, rated: list[RatedText]) -> tuple[list[float], list[float]]:
    return [analyzer.analyze(item.text).polarity for item in rated], [item.mean for item in rated]


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
