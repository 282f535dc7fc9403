"""Intervals for the report's figures, so that nobody over-reads three answers: Wilson's for a proportion, the normal
approximation of the promoter/detractor difference for NPS, and a change called real only when they say so."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

Z_95 = 1.959963984540054  # the 97.5th percentile of the standard normal: a two-sided 95 % interval


class Interval(NamedTuple):
    low: float
    high: float


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval | None:
    """Wilson's score interval for `successes` of `trials`, in percent; None without a trial. Unlike p ± z·se it
    stays within 0-100 and is not a single point at 0 or 100 %."""
    if trials == 0:
        return None
    share, z2 = successes / trials, z * z
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    return Interval(100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def nps_interval(promoters: int, detractors: int, answers: int, z: float = Z_95) -> Interval | None:
    """The NPS interval, in points: NPS ± z·√Var with Var = (p+ + p- - (p+ - p-)²)/n, the variance of the difference
    of two shares of one multinomial sample; clipped to -100..100. A single point when every answer is alike."""
    if answers == 0:
        return None
    up, down = promoters / answers, detractors / answers
    half = z * math.sqrt((up + down - (up - down) ** 2) / answers)
    return Interval(100 * max(-1.0, up - down - half), 100 * min(1.0, up - down + half))


Change = Literal["up", "down"]


def real_change(before: Interval | None, after: Interval | None) -> Change | None:
    """'up' or 'down' when the two 95 % intervals do not overlap (a conservative test: a difference can be real
    with overlapping intervals, but none is called out that is not); None otherwise."""
    if before is None or after is None:
        return None
    if after.low > before.high:
        return "up"
    if after.high < before.low:
        return "down"
    return None
