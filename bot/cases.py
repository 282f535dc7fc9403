"""Complaint cases: triage when a complaint opens (category, priority, due times), the audit trail, staff alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox
from bot.config import CaseSettings
from bot.i18n import translate
from bot.outbound import CaseAlert, CaseContact, CaseEscalation, CaseResolution, CaseUpdate, EventType
from bot.prompts import Reply
from bot.untrusted import one_line, quoted
from bot.webhooks import Webhooks
from storage import cases as stored
from storage import queries, views
from storage.db import Database
from storage.models import OPEN_CASE_STATUSES, CaseStatus, Complaint
from storage.types import utcnow
from storage.views import CaseView, CustomerView, case_view

HIGH_PRIORITY_POLARITY = -0.5  # words this negative make a case urgent


def suggest_category(text: str | None, rules: Mapping[str, list[str]]) -> str | None:
    """The first category one of whose keywords appears in the customer's words."""
    lowered = (text or "").lower()
    return next((category for category, words in rules.items() if any(word in lowered for word in words)), None)


PRIORITIES = ("low", "normal", "high")  # in rising order


def priority_of(complaint: Complaint, lowest_score: bool) -> str:
    """High for the lowest score or very negative words; low for mildly negative words alone."""
    very_negative = complaint.polarity is not None and complaint.polarity <= HIGH_PRIORITY_POLARITY
    if lowest_score or very_negative or "explicit" in complaint.reasons:
        return "high"
    return "normal" if "low_score" in complaint.reasons else "low"


@dataclass(frozen=True)
class StaffDestination:
    """Where one channel's staff hear of cases: the chat or channel of the alerts, the one of escalations (None: the
    alerts'), and whom an escalation mentions, in that channel's own markup."""

    target: str
    escalation_target: str | None = None
    mention: str | None = None

    def escalation(self, case_id: int, why: str) -> CaseEscalation:
        mention = f"{self.mention} " if self.mention else ""
        line = f"{mention}Case #{case_id} escalated: {why}"
        return CaseEscalation(case_id=case_id, target=self.escalation_target or self.target, line=line)


@dataclass(frozen=True)
class CaseDesk:
    """Opens cases in the engine's transaction; `destinations` are the staff channels alerted, by channel, and
    `webhooks` the operator's systems told of cases and completed surveys."""

    settings: CaseSettings = field(default_factory=CaseSettings)
    destinations: Mapping[str, StaffDestination] = field(default_factory=dict)
    webhooks: Webhooks = field(default_factory=Webhooks)

    def triage(self, complaint: Complaint, now: datetime, lowest_score: bool) -> None:
        """Category, priority and the due times of a new case."""
        complaint.category = suggest_category(complaint.text, self.settings.categories)
        complaint.priority = priority_of(complaint, lowest_score)
        self.triage_due(complaint, now)

    async def reprioritise(
        self, session: AsyncSession, complaint: Complaint, now: datetime, lowest_score: bool, alerted: bool
    ) -> None:
        """Raises the priority when new reasons or words call for it, never lowers it; the due times then count
        from the case's creation. The change goes on the trail, and to the staff once they were `alerted`."""
        priority = priority_of(complaint, lowest_score)
        if PRIORITIES.index(priority) <= PRIORITIES.index(complaint.priority):
            return
        line = f"priority raised from {complaint.priority} to {priority}"
        complaint.priority = priority
        self.triage_due(complaint, complaint.created_at)
        await stored.save_case_priority(session, complaint)
        if alerted:
            await self.changed(session, complaint, now, "system", "reprioritised", line)
        else:
            await stored.add_trail_line(session, complaint, now, "system", "reprioritised", line)

    def triage_due(self, complaint: Complaint, now: datetime) -> None:
        """The times by which the case is to be acknowledged and resolved, from now."""
        complaint.due_ack_at = now + timedelta(minutes=self.settings.ack_minutes.get(complaint.priority, 240))
        complaint.due_resolve_at = now + timedelta(hours=self.settings.resolve_hours.get(complaint.priority, 72))

    async def changed(
        self, session: AsyncSession, case: Complaint, now: datetime, actor: str, action: str, line: str
    ) -> None:
        """The trail line, and an update of the case's message for every staff destination."""
        await stored.add_trail_line(session, case, now, actor, action, line)
        for channel, destination in self.destinations.items():
            update = CaseUpdate(case_id=case.id, target=destination.target, line=line)
            outbox.enqueue(session, channel=channel, message=update, now=now)

    async def opened(self, session: AsyncSession, complaint: Complaint, now: datetime) -> None:
        """Records the opening and queues the staff alerts, in the same transaction as the complaint."""
        assert complaint.id is not None
        await stored.add_trail_line(
            session, complaint, now, "system", "opened", f"{complaint.reasons}; priority {complaint.priority}"
        )
        for channel, destination in self.destinations.items():
            alert = CaseAlert(case_id=complaint.id, target=destination.target)
            outbox.enqueue(session, channel=channel, message=alert, now=now)
        self.webhooks.case_changed(session, EventType.CASE_OPENED, now, complaint)


def alert_text(complaint: CaseView, answers: str | None = None) -> str:
    """The staff alert of a case, as plain text: number, reasons, triage, survey and reference, the survey's scores
    and choices (`answers`), the customer's words. What the customer wrote is made visible and kept on its own
    quoted lines, so that it cannot pass for the bot's lines; each channel escapes it further for its surface."""
    who = "an anonymous respondent" if complaint.person_id is None else f"a {complaint.channel} customer"
    triage = f"priority {complaint.priority}" + (f", {complaint.category}" if complaint.category else "")
    if complaint.polarity is not None:
        triage += f", sentiment {complaint.polarity:+.2f}"
    lines = [f"New complaint #{complaint.id} ({', '.join(complaint.reasons)}; {triage}) from {who}"]
    if complaint.survey_id:
        reference = f", reference {one_line(complaint.reference)}" if complaint.reference else ""
        lines.append(f"Survey: {complaint.survey_id}{reference}")
    if answers:
        lines.append(f"Answers: {one_line(answers)}")
    if complaint.text:
        lines.append(quoted(complaint.text))
    return "\n".join(lines)


class CaseError(Exception):
    """A staff or customer action the case's state does not allow; the message says why."""


class EventKey(NamedTuple):
    """The platform event a step answers (a button press, a reply, a form): the step is applied once per event."""

    channel: str
    event_id: str


class Step(NamedTuple):
    """One step's transaction, with its case locked and its time."""

    session: AsyncSession
    case: Complaint
    now: datetime
    repeated: bool  # the step's event was applied before (a redelivery): nothing is to change or be sent


class Cases:
    """The case workflow. Each step changes the case, writes its trail line and queues its messages in one
    transaction, so that what staff and customers are told always matches what happened. A step given its
    platform event records it in that transaction too, so that a redelivered event changes and sends nothing."""

    def __init__(self, database: Database, desk: CaseDesk, clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.desk = desk
        self.clock = clock

    async def acknowledge(self, case_id: int, actor: str, event: EventKey | None = None) -> CaseView:
        async with self._step(case_id, event) as (session, case, now, repeated):
            if repeated:
                return case_view(case)
            if case.status not in (CaseStatus.NEW, CaseStatus.REOPENED):
                raise CaseError(f"case #{case_id} is {case.status}: there is nothing to acknowledge")
            case.status, case.acknowledged_at = CaseStatus.ACKNOWLEDGED, now
            await self.desk.changed(session, case, now, actor, "acknowledged", f"acknowledged by {actor}")
        return case_view(case)

    async def assign(self, case_id: int, actor: str, assignee: str, event: EventKey | None = None) -> CaseView:
        async with self._step(case_id, event) as (session, case, now, repeated):
            if repeated:
                return case_view(case)
            if case.status not in OPEN_CASE_STATUSES:
                raise CaseError(f"case #{case_id} is {case.status}: it cannot be assigned")
            case.assignee = assignee
            await self.desk.changed(session, case, now, actor, "assigned", f"assigned to {assignee} by {actor}")
        return case_view(case)

    async def resolve(
        self,
        case_id: int,
        actor: str,
        *,
        corrective_action: str,
        root_cause: str,
        message: str | None,
        event: EventKey | None = None,
    ) -> CaseView:
        """Records the fix; the customer hears the outcome and is asked whether it is resolved for them."""
        if not corrective_action.strip():
            raise CaseError("the corrective action taken is required")
        if root_cause not in self.desk.settings.root_causes:
            raise CaseError(f"the root cause must be one of {', '.join(self.desk.settings.root_causes)}")
        async with self._step(case_id, event) as (session, case, now, repeated):
            if repeated:
                return case_view(case)
            if case.status not in OPEN_CASE_STATUSES:
                raise CaseError(f"case #{case_id} is {case.status}: it cannot be resolved")
            case.status, case.resolved_at = CaseStatus.RESOLVED, now
            case.corrective_action, case.root_cause = corrective_action.strip(), root_cause
            case.acknowledged_at = case.acknowledged_at or now
            detail = f"{corrective_action.strip()} (root cause: {root_cause})"
            await self.desk.changed(session, case, now, actor, "resolved", f"resolved by {actor}: {detail}")
            self.desk.webhooks.case_changed(session, EventType.CASE_RESOLVED, now, case)
            await self._tell_customer(session, case, now, message)
        return case_view(case)

    async def contact(self, case_id: int, actor: str, message: str, event: EventKey | None = None) -> CaseView:
        """Staff write to the customer through the bot; the customer's replies come back into the case."""
        if not message.strip():
            raise CaseError("the message to the customer is empty")
        async with self._step(case_id, event) as (session, case, now, repeated):
            if repeated:
                return case_view(case)
            person = await stored.customer_of(session, case=case)
            if person is None:
                raise CaseError(f"the customer of case #{case_id} is anonymous or forgotten: they cannot be written to")
            if case.status == CaseStatus.CLOSED:
                raise CaseError(f"case #{case_id} is closed")
            case.awaiting_reply = True
            await self.desk.changed(
                session, case, now, actor, "contacted", f"{actor} wrote to the customer: {message.strip()}"
            )
            contact = CaseContact(case_id=case_id, platform_id=person.platform_id, message=message.strip())
            outbox.enqueue(session, channel=person.channel, message=contact, now=now)
        return case_view(case)

    async def customer_answer(
        self,
        case_id: int,
        channel: str,
        platform_id: str,
        resolved: bool,
        follow_up_key: str | None = None,
        event: EventKey | None = None,
    ) -> CaseView:
        """The customer's "Is this resolved for you?": yes closes the case, no reopens it and escalates again.

        An anonymous respondent is recognised by `follow_up_key` (Engine.follow_up_key), a named one by their id.
        """
        async with self._step(case_id, event) as (session, case, now, repeated):
            if repeated:
                return case_view(case)
            person = await stored.customer_of(session, case=case)
            named = person is not None and (person.channel, person.platform_id) == (channel, platform_id)
            anonymous = person is None and case.follow_up_key is not None and case.follow_up_key == follow_up_key
            if not (named or anonymous):
                raise CaseError(f"case #{case_id} is not this person's")
            if case.status != CaseStatus.RESOLVED:
                raise CaseError(f"case #{case_id} is {case.status}: its outcome was already answered")
            if resolved:
                case.status, case.closed_at = CaseStatus.CLOSED, now
                confirmed = "the customer confirmed it is resolved"
                await self.desk.changed(session, case, now, "customer", "closed", confirmed)
                self.desk.webhooks.case_changed(session, EventType.CASE_CLOSED, now, case)
            else:
                case.status, case.resolved_at, case.acknowledged_at = CaseStatus.REOPENED, None, None
                self.desk.triage_due(case, now)
                not_resolved = "the customer says it is not resolved"
                await self.desk.changed(session, case, now, "customer", "reopened", not_resolved)
                await self._escalate(session, case, now, "reopened by the customer")
        return case_view(case)

    async def escalate_overdue(self) -> int:
        """Escalates every open case past a due time, again no more often than the reminder interval."""
        now = self.clock()
        quiet_since = now - timedelta(minutes=self.desk.settings.reminder_minutes)
        async with self.database.transaction() as session:
            overdue = await queries.list_cases(session, status=None, overdue_at=now, limit=500)
            due = [case for case in overdue if case.escalated_at is None or case.escalated_at <= quiet_since]
            for case in due:
                late = "acknowledged" if case.acknowledged_at is None else "resolved"
                await self._escalate(session, case, now, f"not {late} in time")
        return len(due)

    @asynccontextmanager
    async def _step(self, case_id: int, event: EventKey | None) -> AsyncIterator[Step]:
        """The case locked for one step; the step's event, if new, is recorded when the step succeeds."""
        async with self.database.transaction() as session:
            case = await stored.lock_case(session, case_id=case_id)  # one step at a time
            if case is None:
                raise CaseError(f"there is no case #{case_id}")
            # Read under the case's lock: a concurrent copy of the event waits, then finds it recorded.
            seen = event is not None and await queries.get_event(session, **event._asdict()) is not None
            yield Step(session, case, self.clock(), repeated=seen)
            if event is not None and not seen:
                await queries.record_event(
                    await session.connection(),
                    channel=event.channel,
                    event_id=event.event_id,
                    respondent_key=None,
                    reply=Reply().model_dump_json(),
                )

    async def _escalate(self, session: AsyncSession, case: Complaint, now: datetime, why: str) -> None:
        case.escalations += 1
        case.escalated_at = now
        await stored.add_trail_line(session, case, now, "system", "escalated", why)
        assert case.id is not None
        for channel, destination in self.desk.destinations.items():
            outbox.enqueue(session, channel=channel, message=destination.escalation(case.id, why), now=now)

    async def _tell_customer(self, session: AsyncSession, case: Complaint, now: datetime, message: str | None) -> None:
        person = await stored.customer_of(session, case=case)
        if person is None:
            if case.follow_up_key:
                await stored.add_trail_line(
                    session, case, now, "system", "outcome waiting", "the anonymous respondent sees it on App Home"
                )
            else:
                await stored.add_trail_line(
                    session, case, now, "system", "not told", "the customer is anonymous or forgotten"
                )
            return
        outcome = CaseResolution(case_id=case.id, platform_id=person.platform_id, message=(message or "").strip())
        outbox.enqueue(session, channel=person.channel, message=outcome, now=now)

    async def staff_message(self, case_id: int, channel: str) -> stored.StaffMessage | None:
        """Where the case's staff alert is on the channel (recorded when it was sent), to update it in place."""
        async with self.database.snapshot() as session:
            return await stored.staff_message(session, case_id=case_id, channel=channel)

    async def awaiting_anonymous_answer(self, follow_up_key: str) -> list[CaseView]:
        """Resolved cases of an anonymous respondent that wait for their "Is this resolved for you?"."""
        async with self.database.snapshot() as session:
            return [case_view(case) for case in await queries.resolved_cases_for(session, follow_up_key=follow_up_key)]

    async def answers_of(self, case: CaseView) -> str | None:
        """The scores and choices of the case's survey, e.g. "satisfaction 1 · service facilities"."""
        if case.conversation_id is None:
            return None
        async with self.database.snapshot() as session:
            answers = await queries.get_answers(session, conversation_id=case.conversation_id)
        shown = [
            f"{a.question_id} {a.choice or a.value}" for a in answers if a.value is not None or a.choice is not None
        ]
        return " · ".join(shown) or None

    async def load(self, case_id: int) -> tuple[CaseView, CustomerView | None]:
        """The case and its customer (None when anonymous or forgotten)."""
        async with self.database.snapshot() as session:
            case = await views.get_case(session, case_id=case_id)
            if case is None:
                raise CaseError(f"there is no case #{case_id}")
            return case, await views.customer_of(session, case=case)


def outcome_text(case: CaseView, language: str | None, message: str) -> str:
    """What the customer is told when their case is resolved, before being asked whether it is."""
    words = (case.text or "").replace("\n", " ")[:300] or "…"
    text = translate("outcome", language, number=case.id, words=words, action=case.corrective_action or "")
    return "\n\n".join(part for part in (text, message, translate("outcome_question", language)) if part)
