"""Messages the bot sends on its own: one kind per purpose, one payload model per kind, and what a send came to.

A message is validated when it is written (`encode`) and again when it is read back to be sent (`decode`), so a
row that no longer fits its model fails loudly instead of reaching a person half-filled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter


class Kind(StrEnum):
    CASE_ALERT = "case_alert"  # a new case, to a staff destination
    CASE_UPDATE = "case_update"  # a step of a case, to a staff destination
    CASE_ESCALATION = "case_escalation"  # an overdue case, to a staff destination
    CASE_CONTACT = "case_contact"  # staff's message, to the customer
    CASE_RESOLUTION = "case_resolution"  # the outcome and "Is this resolved for you?", to the customer
    STAFF_NOTICE = "staff_notice"  # a failed handler, to a staff destination
    SURVEY_INVITATION = "survey_invitation"  # a survey's first question, to the person invited
    STAFF_DIGEST = "staff_digest"  # the weekly digest with its chart, to a staff destination
    SURVEY_REMINDER = "survey_reminder"  # the open survey's current question again, to the person invited
    WEBHOOK_EVENT = "webhook_event"  # an event, to an operator's HTTP endpoint


class EventType(StrEnum):
    """What an outbound webhook reports."""

    RESPONSE_COMPLETED = "response.completed"
    CASE_OPENED = "case.opened"
    CASE_RESOLVED = "case.resolved"
    CASE_CLOSED = "case.closed"


class Payload(BaseModel):
    # revalidate_instances: `encode` checks a message however it was built (model_construct skips validation).
    model_config = ConfigDict(frozen=True, extra="forbid", revalidate_instances="always")


class CaseAlert(Payload):
    kind: Literal[Kind.CASE_ALERT] = Kind.CASE_ALERT
    case_id: int
    target: str  # the staff chat or channel


class CaseUpdate(Payload):
    kind: Literal[Kind.CASE_UPDATE] = Kind.CASE_UPDATE
    case_id: int
    target: str
    line: str  # the trail line to show; may quote a person's words


class CaseEscalation(Payload):
    kind: Literal[Kind.CASE_ESCALATION] = Kind.CASE_ESCALATION
    case_id: int
    target: str
    line: str


class CaseContact(Payload):
    kind: Literal[Kind.CASE_CONTACT] = Kind.CASE_CONTACT
    case_id: int
    platform_id: str  # the customer
    message: str  # written by staff


class CaseResolution(Payload):
    kind: Literal[Kind.CASE_RESOLUTION] = Kind.CASE_RESOLUTION
    case_id: int
    platform_id: str
    message: str = ""  # staff's words to the customer, if any


class StaffNotice(Payload):
    kind: Literal[Kind.STAFF_NOTICE] = Kind.STAFF_NOTICE
    target: str
    text: str  # plain text, shown as it is


class SurveyInvitation(Payload):
    """Opens the invitation's survey for the person: the channel sends what starting it answers."""

    kind: Literal[Kind.SURVEY_INVITATION] = Kind.SURVEY_INVITATION
    invitation_id: int
    platform_id: str  # the person invited


class StaffDigest(Payload):
    """The weekly digest. The chart's PNG is kept in the message (base64 in the JSON), so that every attempt sends
    the image the digest was written with, and the channel needs neither the database nor the chart library."""

    model_config = Payload.model_config | ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
    kind: Literal[Kind.STAFF_DIGEST] = Kind.STAFF_DIGEST
    target: str
    title: str  # one line, such as "Weekly digest, 23-30 Nov 2026": the image's title and a short caption
    text: str  # plain text of the bot's own words (no customer's), escaped by the surface
    chart_png: bytes


class WebhookEvent(Payload):
    """One event for one configured webhook; `event_id` is the same for every webhook told of the event and for
    every attempt, so that a receiver drops a second delivery."""

    kind: Literal[Kind.WEBHOOK_EVENT] = Kind.WEBHOOK_EVENT
    webhook: str  # the name of the webhook, [webhooks.NAME]
    event_id: str
    type: EventType
    created_at: datetime
    data: dict[str, JsonValue]  # what the event is about; may hold a person's words (see [webhooks] include_text)


class SurveyReminder(Payload):
    """Reminds the person invited of the survey still open: the channel sends its current question again, with a
    short notice. `number`: the invitation's first reminder, second..."""

    kind: Literal[Kind.SURVEY_REMINDER] = Kind.SURVEY_REMINDER
    invitation_id: int
    platform_id: str
    number: int


# What the channels' case senders deliver: the cases' messages, and staff notices.
CaseMessage = CaseAlert | CaseUpdate | CaseEscalation | CaseContact | CaseResolution | StaffNotice
OutboundMessage = Annotated[
    CaseMessage | SurveyInvitation | SurveyReminder | StaffDigest | WebhookEvent, Field(discriminator="kind")
]
_MESSAGE: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


def encode(message: OutboundMessage) -> str:
    """The message as stored: JSON, checked against its kind's model."""
    return _MESSAGE.dump_json(_MESSAGE.validate_python(message)).decode()


def decode(stored: str) -> OutboundMessage:
    """A stored message, checked against its kind's model; raises pydantic.ValidationError when it does not fit."""
    return _MESSAGE.validate_json(stored)


def case_of(message: OutboundMessage) -> int | None:
    """The case a message belongs to, if any."""
    return getattr(message, "case_id", None)


@dataclass(frozen=True, slots=True)
class Sent:
    """Delivered; `reference` is the platform's id of the message (a Telegram message id, a Slack ts) if kept."""

    reference: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Not delivered this time (an outage, a 5xx, a 429): try again, not before `after` seconds when given."""

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The platform refuses for good (unknown channel, message it cannot take): not retried."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The person cannot be reached (blocked the bot, left, deactivated): not retried, the person marked."""

    reason: str


SendResult = Sent | RetryLater | Refused | Unreachable


class Outcome(StrEnum):
    """What became of one message sent, inline or from the outbox, as counted."""

    SENT = "sent"
    POSSIBLE_RESEND = "possible resend"  # also counted as sent: it may have gone out before a crash too
    RETRY_LATER = "retry later"
    RATE_LIMITED = "rate limited"  # a 429, counted by the channel's client, which waits it out and sends again
    REFUSED = "refused"
    UNREACHABLE = "unreachable"  # a 403: the person blocked the bot, or left
    INVALID = "invalid"  # a stored message that no longer fits its kind's model: never sent
    GIVEN_UP = "given up"  # failed too many times (each counted as retry later): not tried again


def outcome_of(result: SendResult) -> Outcome:
    match result:
        case Sent():
            return Outcome.SENT
        case RetryLater():
            return Outcome.RETRY_LATER
        case Refused():
            return Outcome.REFUSED
        case Unreachable():
            return Outcome.UNREACHABLE


SendCounts = Counter[tuple[str, Outcome]]  # (channel, outcome) -> messages; one for the process, in the Core
