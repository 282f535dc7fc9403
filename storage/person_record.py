"""Operators' data requests about one person: everything held about them, as frozen values, and the audit log that
records each request without the data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import queries, views
from storage.models import Answer, AuditEntry, Complaint, Conversation, InboundEvent, Invitation


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    question_id: str
    value: int | None
    choice: str | None
    text: str | None
    skipped: bool
    sentiment: str | None
    polarity: float | None
    answered_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: int
    survey_id: str
    reference: str | None
    language: str
    status: str
    started_at: datetime
    closed_at: datetime | None
    answers: list[AnswerRecord]


@dataclass(frozen=True, slots=True)
class TrailStep:
    at: datetime
    actor: str  # a staff id, "customer" or "system"
    action: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    status: str
    reasons: str
    text: str | None  # the customer's own words
    reference: str | None
    created_at: datetime
    trail: list[TrailStep]


@dataclass(frozen=True, slots=True)
class EventRecord:
    channel: str
    event_id: str
    reply: str  # JSON of what the bot answered
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    survey_id: str
    reference: str | None
    attributes: dict[str, str]
    state: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """Everything held about a person under their name; their anonymous answers name no one and are not in it."""

    channel: str
    platform_id: str
    language: str | None
    timezone: str | None  # as the platform told it, for the quiet hours of reminders
    opted_out: bool
    reachable: bool
    created_at: datetime
    conversations: list[ConversationRecord]
    cases: list[CaseRecord]
    inbound_events: list[EventRecord]
    invitations: list[InvitationRecord]

    def counts(self) -> dict[str, int]:
        return {
            "person": 1,
            "conversations": len(self.conversations),
            "answers": sum(len(conversation.answers) for conversation in self.conversations),
            "cases": len(self.cases),
            "inbound_events": len(self.inbound_events),
            "invitations": len(self.invitations),
        }


async def person_record(
    session: AsyncSession, *, channel: str, platform_id: str, respondent_key: str
) -> PersonRecord | None:
    """What is held about the person named by `channel` and `platform_id` (their named `respondent_key`), or None
    when the bot has no such person."""
    person = await queries.get_person(session, channel=channel, platform_id=platform_id)
    if person is None:
        return None
    owned = or_(col(Conversation.person_id) == person.id, col(Conversation.respondent_key) == respondent_key)
    conversations = list(
        await session.exec(
            select(Conversation).where(owned, col(Conversation.anonymous).is_(False)).order_by(col(Conversation.id))
        )
    )
    conversation_ids = [conversation.id for conversation in conversations]
    concerned = or_(col(Complaint.person_id) == person.id, col(Complaint.conversation_id).in_(conversation_ids))
    cases = list(await session.exec(select(Complaint).where(concerned).order_by(col(Complaint.id))))
    events = await session.exec(
        select(InboundEvent)
        .where(InboundEvent.respondent_key == respondent_key)
        .order_by(col(InboundEvent.received_at))
    )
    return PersonRecord(
        channel=person.channel,
        platform_id=person.platform_id,
        language=person.language,
        timezone=person.timezone,
        opted_out=person.opted_out,
        reachable=not person.unreachable,
        created_at=person.created_at,
        conversations=[await _conversation_record(session, conversation) for conversation in conversations],
        cases=[await _case_record(session, case) for case in cases],
        inbound_events=[EventRecord(row.channel, row.event_id, row.reply, row.received_at) for row in events],
        invitations=[
            InvitationRecord(
                row.survey_id, row.reference, row.attributes or {}, row.state, row.reason, row.created_at, row.sent_at
            )
            for row in await session.exec(
                select(Invitation).where(Invitation.person_id == person.id).order_by(col(Invitation.id))
            )
        ],
    )


async def _conversation_record(session: AsyncSession, conversation: Conversation) -> ConversationRecord:
    assert conversation.id is not None
    answers = await session.exec(
        select(Answer).where(Answer.conversation_id == conversation.id).order_by(col(Answer.id))
    )
    return ConversationRecord(
        id=conversation.id,
        survey_id=conversation.survey_id,
        reference=conversation.reference,
        language=conversation.language,
        status=conversation.status,
        started_at=conversation.started_at,
        closed_at=conversation.closed_at,
        answers=[
            AnswerRecord(
                answer.question_id,
                answer.value,
                answer.choice,
                answer.text,
                answer.skipped,
                answer.sentiment_label,
                answer.polarity,
                answer.answered_at,
                answer.updated_at,
            )
            for answer in answers
        ],
    )


async def _case_record(session: AsyncSession, case: Complaint) -> CaseRecord:
    assert case.id is not None
    trail = await views.case_trail(session, case_id=case.id)
    return CaseRecord(
        id=case.id,
        status=case.status,
        reasons=case.reasons,
        text=case.text,
        reference=case.reference,
        created_at=case.created_at,
        trail=[TrailStep(*line) for line in trail],
    )


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    subject: str
    counts: dict[str, int]


def record_request(session: AsyncSession, *, actor: str, action: str, subject: str, counts: Mapping[str, int]) -> None:
    """Logs a data request in the session's transaction: whose (a keyed hash) and how many records, not the data."""
    session.add(AuditEntry(actor=actor, action=action, subject=subject, counts=json.dumps(dict(counts))))


async def audit_log(session: AsyncSession) -> list[AuditLine]:
    entries = await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
    return [AuditLine(row.at, row.actor, row.action, row.subject, json.loads(row.counts)) for row in entries]
