"""Figures of an analyzer on human-rated texts (the VADER paper's ground-truth files), in pure Python.

The definitions follow tests/reference/data/sentiment/README.md so that figures compare across runs: the human label is
positive when the raters' MEAN (-4..+4) is >= +0.2, negative when <= -0.2, else neutral; a complaint is MEAN < -0.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from bot.sentiment import Analyzer, Label

POSITIVE_MEAN = 0.2
NEGATIVE_MEAN = -0.2
COMPLAINT_MEAN = -0.5
THREE_CLASSES = (Label.POSITIVE, Label.NEUTRAL, Label.NEGATIVE)


@dataclass(frozen=True, slots=True)
class RatedText:
    """One line of a ground-truth file: the raters' mean score (-4..+4) of a text."""

    id: str
    mean: float
    text: str


@dataclass(frozen=True, slots=True)
class Figures:
    """How an analyzer's output compares with the raters on one set."""

    pearson_r: float
    accuracy: float  # 3-class: positive / neutral / negative
    macro_f1: float
    complaint_precision: float
    complaint_recall: float
    complaint_f1: float
    roc_auc: float  # of -polarity as a complaint score: threshold-free
    texts_per_second: float


def load_rated_texts(path: Path) -> list[RatedText]:
    """Reads `ID <TAB> MEAN <TAB> TEXT` lines (CRLF, UTF-8); the text may itself hold tabs."""
    rated = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            text_id, mean, text = line.split("\t", 2)
            rated.append(RatedText(text_id, float(mean), text))
    return rated


LABELS = {"C": True, ".": False}  # complaint, not a complaint


def load_labelled_texts(path: Path) -> list[tuple[str, bool]]:
    """(text, is a complaint) of each `LABEL<TAB>TEXT` line, LABEL being C or "."; blank lines and lines starting
    with # are skipped."""
    labelled = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            label, _, text = line.partition("\t")
            if label not in LABELS or not text:
                raise ValueError(f"{path.name} line {number}: expected C or . then a tab and the text")
            labelled.append((text, LABELS[label]))
    return labelled


def complaint_figures(analyzer: Analyzer, labelled: Sequence[tuple[str, bool]]) -> tuple[float, float, float]:
    """Complaint precision, recall and F1 of the analyzer on labelled texts."""
    flagged = [analyzer.analyze(text).complaint for text, _ in labelled]
    return precision_recall_f1([complaint for _, complaint in labelled], flagged)


def human_label(mean: float) -> Label:
    if mean >= POSITIVE_MEAN:
        return Label.POSITIVE
    if mean <= NEGATIVE_MEAN:
        return Label.NEGATIVE
    return Label.NEUTRAL


def is_human_complaint(mean: float) -> bool:
    return mean < COMPLAINT_MEAN


def pearson_r(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; 0 when either side is constant (no linear relation can be read)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    if var_x == 0 or var_y == 0:
        return 0.0
    return cov / math.sqrt(var_x * var_y)


def precision_recall_f1(truth: Sequence[bool], predicted: Sequence[bool]) -> tuple[float, float, float]:
    """Of the positive class; a ratio with an empty denominator counts as 0."""
    true_pos = sum(t and p for t, p in zip(truth, predicted, strict=True))
    precision = true_pos / max(sum(predicted), 1)
    recall = true_pos / max(sum(truth), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def accuracy_and_macro_f1(truth: Sequence[Label], predicted: Sequence[Label]) -> tuple[float, float]:
    """3-class figures; a prediction outside the three classes (e.g. unknown) is simply wrong."""
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)
    f1s = [
        precision_recall_f1([t == label for t in truth], [p == label for p in predicted])[2] for label in THREE_CLASSES
    ]
    return accuracy, sum(f1s) / len(f1s)


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Probability that a random positive outscores a random negative (ties count half): Mann-Whitney U."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1  # tied scores share their average rank
        start = end + 1
    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    rank_sum = sum(rank for rank, positive in zip(ranks, positives, strict=True) if positive)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(analyzer: Analyzer, rated: Sequence[RatedText]) -> Figures:
    """Scores every text once (timed) and compares with the raters."""
    started = time.perf_counter()
    results = [analyzer.analyze(item.text) for item in rated]
    elapsed = time.perf_counter() - started
    means = [item.mean for item in rated]
    polarities = [result.polarity for result in results]
    complaints = [is_human_complaint(mean) for mean in means]
    accuracy, macro_f1 = accuracy_and_macro_f1(
        [human_label(mean) for mean in means], [result.label for result in results]
    )
    precision, recall, f1 = precision_recall_f1(complaints, [result.complaint for result in results])
    return Figures(
        pearson_r=pearson_r(polarities, means),
        accuracy=accuracy,
        macro_f1=macro_f1,
        complaint_precision=precision,
        complaint_recall=recall,
        complaint_f1=f1,
        roc_auc=roc_auc([-polarity for polarity in polarities], complaints),
        texts_per_second=len(rated) / elapsed if elapsed > 0 else math.inf,
    )


def complaint_f1(polarities: Sequence[float], means: Sequence[float], threshold: float) -> float:
    """Complaint F1 when a text is flagged for a polarity below `threshold`."""
    return precision_recall_f1([is_human_complaint(mean) for mean in means], [p < threshold for p in polarities])[2]


@dataclass(frozen=True, slots=True)
class HeldOut:
    """The threshold chosen on the other sets, and the complaint F1 it gives on this one."""

    set_name: str
    threshold: float
    complaint_f1: float


def leave_one_set_out(
    scored: Mapping[str, tuple[Sequence[float], Sequence[float]]], thresholds: Sequence[float]
) -> list[HeldOut]:
    """For each set, the threshold (of `thresholds`, the first on ties) with the best mean complaint F1 over the
    other sets, and its F1 on the held-out set: an honest figure for a threshold picked on data. `scored` maps a set
    name to (polarities, raters' means)."""
    f1 = {
        (name, t): complaint_f1(polarities, means, t)
        for name, (polarities, means) in scored.items()
        for t in thresholds
    }
    held_out = []
    for name in scored:
        others = [other for other in scored if other != name]
        best = max(thresholds, key=lambda t: (fmean(f1[other, t] for other in others), -thresholds.index(t)))
        held_out.append(HeldOut(name, best, f1[name, best]))
    return held_out
