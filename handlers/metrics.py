"""GET /metrics in Prometheus' text format: the process's tallies read at scrape time, and the database's state."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from bot.outbound import SendCounts
from storage.db import Database
from storage.monitoring import Backlog, CaseTally, answers_stored, case_tally, outbox_backlog
from storage.types import utcnow

log = logging.getLogger(__name__)


class Stored(NamedTuple):
    """The database's state at one scrape."""

    cases: CaseTally
    answers: int
    outbox: Backlog


class Metrics(Collector):
    """One per app, with its own registry, so that several apps (and tests) never share a series. Counters are
    the Core's tallies, read at scrape time rather than kept twice."""

    def __init__(
        self,
        database: Database,
        *,
        sends: SendCounts | None = None,
        handled: Counter[tuple[str, str]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.clock = database, clock
        self.sends = sends if sends is not None else SendCounts()
        self.handled = handled if handled is not None else Counter()
        self.stored: Stored | None = None
        self.registry = CollectorRegistry()
        self.registry.register(self)

    async def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, after reading the database's state; with the database down, the
        process's own counters still, and feedbackbot_database_up 0."""
        try:
            async with self.database.snapshot() as session:
                cases, answers = await case_tally(session), await answers_stored(session)
                self.stored = Stored(cases, answers, await outbox_backlog(session))
        except (SQLAlchemyError, OSError) as error:
            log.warning("metrics: the database does not answer: %s", error)
            self.stored = None
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        sends = CounterMetricFamily(
            "feedbackbot_sends", "Messages sent, inline or from the outbox, by outcome", labels=["channel", "outcome"]
        )
        for (channel, outcome), count in sorted(self.sends.items()):
            sends.add_metric([channel, outcome], count)
        handled = CounterMetricFamily(
            "feedbackbot_updates_handled", "Events applied by the engine, by kind", labels=["channel", "kind"]
        )
        for (channel, kind), count in sorted(self.handled.items()):
            handled.add_metric([channel, kind], count)
        yield from (sends, handled)
        up = self.stored is not None
        yield GaugeMetricFamily("feedbackbot_database_up", "1 when the database answered this scrape", value=up)
        if self.stored is not None:
            yield from self.database_families(self.stored)

    def database_families(self, stored: Stored) -> Iterator[Metric]:
        cases = GaugeMetricFamily("feedbackbot_cases", "Cases (complaints opened) by state", labels=["state"])
        for state, count in sorted(stored.cases.by_state.items()):
            cases.add_metric([state], count)
        yield cases
        yield GaugeMetricFamily(
            "feedbackbot_cases_escalated", "Cases escalated for missing their SLA", value=stored.cases.escalated
        )
        yield GaugeMetricFamily("feedbackbot_answers_stored", "Survey answers stored", value=stored.answers)
        yield GaugeMetricFamily(
            "feedbackbot_outbox_pending", "Messages waiting in the outbox", value=stored.outbox.pending
        )
        oldest = stored.outbox.oldest
        age = (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "feedbackbot_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox message", value=age
        )
