"""The report's intervals and pure figures against values computed by hand."""

from __future__ import annotations

import pytest

from bot.report_stats import Interval, nps_interval, real_change, wilson
from bot.reports import GroupFigures, hide_small_groups, pareto


def rounded(interval: Interval | None) -> tuple[float, float] | None:
    return None if interval is None else (round(interval.low, 2), round(interval.high, 2))


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        (0, 0, None),
        (2, 4, (15.0, 85.0)),  # centre 0.5, half-width 1.96/1.9604 * sqrt(0.0625 + 0.0600)
        (0, 10, (0.0, 27.75)),  # never a single point at 0 %: centre = half-width = 0.1921/1.3841
        (10, 10, (72.25, 100.0)),
    ],
)
def test_wilson_interval(successes: int, trials: int, expected: tuple[float, float] | None) -> None:
    assert rounded(wilson(successes, trials)) == expected


@pytest.mark.parametrize(
    ("promoters", "detractors", "answers", "expected"),
    [
        (0, 0, 0, None),
        (0, 0, 3, (0.0, 0.0)),  # all passives
        (1, 1, 10, (-27.72, 27.72)),  # Var = (0.2 - 0) / 10: 1.96 * 0.1414
        (2, 1, 4, (-56.26, 100.0)),  # Var = (0.75 - 0.0625) / 4: 25 ± 81.26, capped at 100
    ],
)
def test_nps_interval(promoters: int, detractors: int, answers: int, expected: tuple[float, float] | None) -> None:
    assert rounded(nps_interval(promoters, detractors, answers)) == expected


def test_a_change_is_real_only_when_the_intervals_part() -> None:
    assert real_change(Interval(70, 90), Interval(10, 30)) == "down"
    assert real_change(Interval(10, 30), Interval(70, 90)) == "up"
    assert real_change(Interval(10, 50), Interval(40, 90)) is None
    assert real_change(None, Interval(40, 90)) is None


def test_pareto_ranks_root_causes_with_their_cumulative_share() -> None:
    rows = pareto([("product", 1), ("people", 3), ("process", 1)])
    assert [(row.root_cause, row.cases, row.cumulative_percent) for row in rows] == [
        ("people", 3, 60.0),
        ("process", 1, 80.0),
        ("product", 1, 100.0),
    ]


def test_groups_too_small_even_together_hide_every_group() -> None:
    groups = [GroupFigures("a", 2, 2, 2), GroupFigures("b", 1, 1, 1), GroupFigures("c", 1, 0, 1)]
    assert [g.hidden for g in hide_small_groups(groups, 5)] == [
        "too few anonymous answers",
        "too few anonymous answers",
        "would reveal a hidden group by subtraction",
    ]
