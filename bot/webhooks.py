"""Outbound webhooks: the events an operator's systems hear of, written to the outbox with the change they report,
and the signature each delivery carries.

Each event is one outbox message per webhook subscribed to it, all with one event id; the dispatcher delivers them
at least once, so a receiver drops an event id it has seen. What a payload holds about a person: no platform id
ever; the person's number and the reference only when the survey is not anonymous; their own words (free-text
answers, a complaint's text) only for a webhook with `include_text`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from pydantic import JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import outbox
from bot.config import WebhookSettings
from bot.outbound import EventType, WebhookEvent
from storage.models import Answer, Complaint, Conversation

CHANNEL_PREFIX = "webhook:"  # the outbox channel of a webhook's deliveries is this and its name
SIGNATURE_HEADER = "Feedbackbot-Signature"
EVENT_ID_HEADER = "Feedbackbot-Event-Id"
EVENT_HEADER = "Feedbackbot-Event"

EventData = dict[str, JsonValue]
DataFor = Callable[[bool], EventData]  # the event's data, with the person's words or without


def channel_of(webhook: str) -> str:
    return CHANNEL_PREFIX + webhook


def webhook_of(channel: str) -> str | None:
    """The webhook whose deliveries an outbox channel holds; None for a chat channel."""
    return channel.removeprefix(CHANNEL_PREFIX) if channel.startswith(CHANNEL_PREFIX) else None


@dataclass(frozen=True)
class Webhooks:
    """The configured webhooks; `announce` writes an event for each one subscribed to it."""

    settings: Mapping[str, WebhookSettings] = field(default_factory=dict)

    def announce(self, session: AsyncSession, event: EventType, now: datetime, data: DataFor) -> None:
        """Adds the event to the caller's transaction, once per webhook subscribed to it."""
        event_id = str(uuid.uuid4())
        for name, webhook in self.settings.items():
            if event in webhook.events:
                message = WebhookEvent(
                    webhook=name, event_id=event_id, type=event, created_at=now, data=data(webhook.include_text)
                )
                outbox.enqueue(session, channel=channel_of(name), message=message, now=now)

    def response_completed(
        self,
        session: AsyncSession,
        now: datetime,
        conversation: Conversation,
        answers: list[Answer],
        case: Complaint | None,
    ) -> None:
        """A survey completed, with its answers in the survey's order and the case it opened, if any."""
        if self.settings:
            data = partial(response_data, conversation, answers, case.id if case else None)
            self.announce(session, EventType.RESPONSE_COMPLETED, now, data)

    def case_changed(self, session: AsyncSession, event: EventType, now: datetime, case: Complaint) -> None:
        """A case opened, resolved or closed, as it stands after the change."""
        if self.settings:
            self.announce(session, event, now, partial(case_data, case))


def response_data(conversation: Conversation, answers: list[Answer], case_id: int | None, with_text: bool) -> EventData:
    """A completed survey: its scores and choices, the case it opened, its free text only `with_text`."""
    named = not conversation.anonymous
    return {
        "response_id": conversation.id,
        "survey": conversation.survey_id,
        "channel": conversation.channel,
        "anonymous": conversation.anonymous,
        "person_id": conversation.person_id if named else None,
        "reference": conversation.reference if named else None,
        "language": conversation.language,
        "started_at": conversation.started_at.isoformat(),
        "completed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
        "case": case_id,
        "answers": [
            {
                "question": answer.question_id,
                "kind": answer.kind,
                "value": answer.value,
                "choice": answer.choice,
                "skipped": answer.skipped,
                "sentiment": answer.sentiment_label,
                "polarity": answer.polarity,
                **({"text": answer.text} if with_text else {}),
            }
            for answer in answers
        ],
    }


def case_data(case: Complaint, with_text: bool) -> EventData:
    """A case as it stands: number, status, triage and outcome; the customer's words only `with_text`."""
    named = case.person_id is not None
    reasons: list[JsonValue] = list(case.reasons.split(","))
    data: EventData = {
        "case": case.id,
        "status": case.status,
        "survey": case.survey_id,
        "response_id": case.conversation_id,
        "channel": case.channel,
        "person_id": case.person_id,
        "reference": case.reference if named else None,
        "reasons": reasons,
        "category": case.category,
        "priority": case.priority,
        "root_cause": case.root_cause,
        "corrective_action": case.corrective_action,
        "opened_at": case.created_at.isoformat(),
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }
    if with_text:
        data["text"] = case.text
    return data


def body_of(event: WebhookEvent) -> bytes:
    """What is POSTed: the event as compact JSON, the same bytes on every attempt."""
    envelope = {
        "id": event.event_id,
        "type": event.type.value,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Feedbackbot-Signature header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed by the
    secret>`; signing the time with the body lets a receiver refuse an old delivery replayed."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
