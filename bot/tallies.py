"""What this process did since it started, counted where it happens; /metrics reads the tallies at scrape time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import Histogram

from bot.retention import RetentionCounts
from storage.retention import Pruned

EventKind = tuple[str, str]  # (channel, event class name): ("telegram", "TextAnswer")


def handling_histogram() -> Histogram:
    # In no registry: each app's /metrics registers it in its own, so that apps (and tests) never share a series.
    return Histogram(
        "feedbackbot_handling_seconds",
        "Time the engine took to handle one event, redeliveries and failures included",
        ["channel", "kind"],
        registry=None,
    )


@dataclass(slots=True)
class EventTallies:
    """The engine's events by channel and kind: every event received is a duplicate, handled, or failed."""

    received: Counter[EventKind] = field(default_factory=Counter)  # given to the engine, before it applies them
    duplicates: Counter[EventKind] = field(default_factory=Counter)  # redeliveries, answered with their first reply
    handled: Counter[EventKind] = field(default_factory=Counter)  # applied
    complaints: Counter[str] = field(default_factory=Counter)  # complaints opened, by channel
    handling: Histogram = field(default_factory=handling_histogram)


@dataclass(slots=True)
class SweepTallies:
    """What the minute's sweep did: cases escalated for missing their SLA, and what retention removed."""

    escalations: int = 0
    pruned: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(Pruned._fields, 0)))  # by table
    forgotten: int = 0  # people anonymised
    texts_cleared: int = 0  # free texts cleared

    def add(self, escalated: int, removed: RetentionCounts) -> None:
        self.escalations += escalated
        self.pruned.update(removed.pruned._asdict())
        self.forgotten += removed.forgotten
        self.texts_cleared += removed.texts_cleared
