"""GET /metrics in Prometheus' text format: the process's tallies read at scrape time, and the database's state."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from bot.outbound import SendCounts
from bot.tallies import EventTallies, SweepTallies
from bot.webhooks import webhook_of
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
    the Core's tallies, read at scrape time rather than kept twice; `requests` times the HTTP server's requests."""

    def __init__(
        self,
        database: Database,
        *,
        sends: SendCounts | None = None,
        events: EventTallies | None = None,
        swept: SweepTallies | None = None,
        deliveries: SendCounts | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.clock = database, clock
        self.sends = sends if sends is not None else SendCounts()
        self.deliveries = deliveries if deliveries is not None else SendCounts()
        self.events = events if events is not None else EventTallies()
        self.swept = swept if swept is not None else SweepTallies()
        self.stored: Stored | None = None
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.registry.register(self.events.handling)
        self.requests = Histogram(
            "feedbackbot_http_request_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )

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
            "feedbackbot_sends",
            "Messages sent, inline or from the outbox, by outcome (rate limited: 429; unreachable: 403, blocked)",
            labels=["channel", "outcome"],
        )
        for (channel, outcome), count in sorted(self.sends.items()):
            sends.add_metric([channel, outcome], count)
        yield sends
        deliveries = CounterMetricFamily(
            "feedbackbot_webhook_deliveries",
            "Webhook deliveries, by webhook and outcome (retry later: 408, 429, 5xx or no answer; refused: another "
            "4xx; given up: still failing after the last attempt)",
            labels=["webhook", "outcome"],
        )
        for (channel, outcome), count in sorted(self.deliveries.items()):
            deliveries.add_metric([webhook_of(channel) or channel, outcome], count)
        yield deliveries
        yield from self.event_families(self.events)
        yield from self.sweep_families(self.swept)
        errors = CounterMetricFamily(
            "feedbackbot_database_errors",
            "Database failures, by operation and error type",
            labels=["operation", "error"],
        )
        for (operation, error), count in sorted(self.database.errors.items()):
            errors.add_metric([operation, error], count)
        yield errors
        up = self.stored is not None
        yield GaugeMetricFamily("feedbackbot_database_up", "1 when the database answered this scrape", value=up)
        if self.stored is not None:
            yield from self.database_families(self.stored)

    def event_families(self, events: EventTallies) -> Iterator[Metric]:
        for name, documentation, counts in (
            ("received", "Events given to the engine, before handling, redeliveries included", events.received),
            (
                "duplicate",
                "Redelivered events, answered with their first reply and not applied again",
                events.duplicates,
            ),
            ("handled", "Events applied by the engine", events.handled),
        ):
            family = CounterMetricFamily(f"feedbackbot_updates_{name}", documentation, labels=["channel", "kind"])
            for (channel, kind), count in sorted(counts.items()):
                family.add_metric([channel, kind], count)
            yield family
        complaints = CounterMetricFamily(
            "feedbackbot_complaints_opened", "Complaints opened by this process, by channel", labels=["channel"]
        )
        for channel, count in sorted(events.complaints.items()):
            complaints.add_metric([channel], count)
        yield complaints

    def sweep_families(self, swept: SweepTallies) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "feedbackbot_sla_breaches", "Cases this process escalated for missing their SLA", value=swept.escalations
        )
        pruned = CounterMetricFamily(
            "feedbackbot_retention_pruned_rows",
            "Bookkeeping rows deleted after their deduplication window (inbox: handled inbox updates, events: "
            "inbound event records, outbox: sent or failed outbox messages)",
            labels=["table"],
        )
        for table, count in sorted(swept.pruned.items()):
            pruned.add_metric([table], count)
        yield pruned
        yield CounterMetricFamily(
            "feedbackbot_retention_people_forgotten",
            "People anonymised after [privacy] retention_days without activity",
            value=swept.forgotten,
        )
        yield CounterMetricFamily(
            "feedbackbot_retention_texts_cleared",
            "Free texts cleared after [privacy] retention_days",
            value=swept.texts_cleared,
        )

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
