from __future__ import annotations

from pathlib import Path

import pytest

from bot.sentiment import Label, Sentiment, label_for
from bot.sentiment.evaluation import (
    RatedText,
    accuracy_and_macro_f1,
    complaint_f1,
    evaluate,
    human_label,
    is_human_complaint,
    leave_one_set_out,
    load_labelled_texts,
    load_rated_texts,
    pearson_r,
    precision_recall_f1,
    roc_auc,
)


def test_loads_crlf_lines_whose_text_holds_tabs(tmp_path: Path) -> None:
    path = tmp_path / "set.txt"
    path.write_bytes("1\t-1.5\tbad\tvery bad\r\n2\t2.0\tCafé \u2013 great\r\n\r\n".encode())
    assert load_rated_texts(path) == [RatedText("1", -1.5, "bad\tvery bad"), RatedText("2", 2.0, "Café \u2013 great")]


@pytest.mark.parametrize(
    ("mean", "label", "complaint"),
    [
        (0.2, Label.POSITIVE, False),
        (0.19, Label.NEUTRAL, False),
        (-0.2, Label.NEGATIVE, False),
        (-0.5, Label.NEGATIVE, False),
        (-0.51, Label.NEGATIVE, True),
    ],
)
def test_human_definitions_follow_the_data_readme(mean: float, label: Label, complaint: bool) -> None:
    assert human_label(mean) is label
    assert is_human_complaint(mean) is complaint


def test_pearson_r() -> None:
    assert pearson_r([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson_r([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson_r([1, 1, 1], [1, 2, 3]) == 0.0


def test_precision_recall_f1() -> None:
    truth = [True, True, False, False]
    assert precision_recall_f1(truth, [True, False, True, False]) == (0.5, 0.5, 0.5)
    assert precision_recall_f1(truth, [False] * 4) == (0.0, 0.0, 0.0)


def test_accuracy_and_macro_f1_count_unknown_as_wrong() -> None:
    truth = [Label.POSITIVE, Label.NEUTRAL, Label.NEGATIVE, Label.NEGATIVE]
    predicted = [Label.POSITIVE, Label.NEUTRAL, Label.NEGATIVE, Label.UNKNOWN]
    accuracy, macro_f1 = accuracy_and_macro_f1(truth, predicted)
    assert accuracy == 0.75
    assert macro_f1 == pytest.approx((1 + 1 + 2 / 3) / 3)


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.5, 0.5], [False, True]) == 0.5
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75


class SignAnalyzer:
    """Reads the sign of a number written as text: enough to check evaluate's bookkeeping."""

    name = "sign"

    def analyze(self, text: str, language: str | None = None) -> Sentiment:
        polarity = float(text)
        return Sentiment(polarity, None, label_for(polarity), polarity < -0.125, self.name)


def test_evaluate_compares_every_text_with_the_raters() -> None:
    rated = [RatedText(str(i), mean, str(mean / 4)) for i, mean in enumerate([-3.0, -1.0, 0.0, 1.0, 3.0])]
    figures = evaluate(SignAnalyzer(), rated)
    assert figures.pearson_r == pytest.approx(1.0)
    assert figures.accuracy == 1.0
    assert figures.complaint_f1 == 1.0
    assert figures.roc_auc == 1.0
    assert figures.texts_per_second > 0


def test_leave_one_set_out_picks_the_threshold_on_the_other_sets() -> None:
    # Complaints are means below -0.5; "a" and "b" are best cut at -0.1, "c" at -0.3.
    scored = {
        "a": ([-0.2, -0.05, 0.5], [-1.0, 0.0, 1.0]),
        "b": ([-0.15, 0.0], [-2.0, 0.5]),
        "c": ([-0.4, -0.2], [-1.0, 0.0]),
    }
    held_out = {held.set_name: held for held in leave_one_set_out(scored, (-0.1, -0.3))}
    assert held_out["c"].threshold == -0.1  # chosen on a and b, where -0.3 would miss every complaint
    assert held_out["c"].complaint_f1 == pytest.approx(2 / 3)
    assert held_out["a"].threshold == -0.1  # b needs -0.1; c does better at -0.3, but less so
    assert held_out["a"].complaint_f1 == 1.0


def test_complaint_f1_flags_polarities_below_the_threshold() -> None:
    assert complaint_f1([-0.2, -0.1], [-1.0, -1.0], -0.1) == pytest.approx(2 / 3)


def test_leave_one_set_out_breaks_ties_with_the_first_threshold() -> None:
    scored = {"a": ([-0.2], [-1.0]), "b": ([-0.2], [-1.0])}
    assert [held.threshold for held in leave_one_set_out(scored, (-0.1, -0.15))] == [-0.1, -0.1]


def test_labelled_texts_skip_notes_and_blank_lines_and_refuse_unknown_labels(tmp_path: Path) -> None:
    good = tmp_path / "good.tsv"
    good.write_text("# a note\nC\tLate again\n\n.\tAll good\n", encoding="utf-8")
    assert load_labelled_texts(good) == [("Late again", True), ("All good", False)]
    bad = tmp_path / "bad.tsv"
    bad.write_text("C\tLate again\nX\tWhat?\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv line 2: expected C or \."):
        load_labelled_texts(bad)
