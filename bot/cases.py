"""Complaint cases: triage when a complaint opens (category, priority, due times), the audit trail, staff alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox
from bot.config import CaseSettings
from storage.models import CaseEvent, Complaint

HIGH_PRIORITY_POLARITY = -0.5  # words this negative make a case urgent
STAFF_ALERT = "case_alert"


def suggest_category(text: str | None, rules: Mapping[str, list[str]]) -> str | None:
    """The first category one of whose keywords appears in the customer's words."""
    lowered = (text or "").lower()
    return next((category for category, words in rules.items() if any(word in lowered for word in words)), None)


def priority_of(complaint: Complaint, lowest_score: bool) -> str:
    """High for the lowest score or very negative words; low for mildly negative words alone."""
    very_negative = complaint.polarity is not None and complaint.polarity <= HIGH_PRIORITY_POLARITY
    if lowest_score or very_negative or "explicit" in complaint.reasons:
        return "high"
    return "normal" if "low_score" in complaint.reasons else "low"


@dataclass(frozen=True)
class CaseDesk:
    """Opens cases in the engine's transaction; `destinations` are the staff channels alerted (channel -> target)."""

    settings: CaseSettings = field(default_factory=CaseSettings)
    destinations: Mapping[str, str] = field(default_factory=dict)

    def triage(self, complaint: Complaint, now: datetime, lowest_score: bool) -> None:
        """Category, priority and the due times of a new case."""
        complaint.category = suggest_category(complaint.text, self.settings.categories)
        complaint.priority = priority_of(complaint, lowest_score)
        complaint.due_ack_at = now + timedelta(minutes=self.settings.ack_minutes.get(complaint.priority, 240))
        complaint.due_resolve_at = now + timedelta(hours=self.settings.resolve_hours.get(complaint.priority, 72))

    def opened(self, session: AsyncSession, complaint: Complaint, now: datetime) -> None:
        """Records the opening and queues the staff alerts, in the same transaction as the complaint."""
        assert complaint.id is not None
        record(session, complaint, now, "system", "opened", f"{complaint.reasons}; priority {complaint.priority}")
        for channel, target in self.destinations.items():
            payload = {"case": complaint.id, "target": target}
            outbox.enqueue(session, channel=channel, kind=STAFF_ALERT, payload=payload, now=now)


def record(session: AsyncSession, complaint: Complaint, now: datetime, actor: str, action: str, detail: str) -> None:
    """One line of the case's audit trail."""
    assert complaint.id is not None
    session.add(CaseEvent(complaint_id=complaint.id, at=now, actor=actor, action=action, detail=detail))


def alert_text(complaint: Complaint) -> str:
    """The staff alert of a case, as plain text: number, reasons, triage, survey and reference, the customer's words."""
    who = "an anonymous respondent" if complaint.person_id is None else f"a {complaint.channel} customer"
    triage = f"priority {complaint.priority}" + (f", {complaint.category}" if complaint.category else "")
    lines = [f"New complaint #{complaint.id} ({complaint.reasons.replace(',', ', ')}; {triage}) from {who}"]
    if complaint.survey_id:
        reference = f", reference {complaint.reference}" if complaint.reference else ""
        lines.append(f"Survey: {complaint.survey_id}{reference}")
    if complaint.text:
        lines.append(f"“{complaint.text}”")
    return "\n".join(lines)
