"""All tables of feedbackbot. Times are timezone-aware UTC; states and kinds are stored as strings."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _timestamp(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class ConversationStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    PARTIAL = "partial"  # closed before the last question: expired, replaced or stopped; answers kept


class PersonBase(SQLModel):
    channel: str = Field(max_length=32)
    platform_id: str = Field(max_length=128)
    language: str | None = Field(default=None, max_length=16)
    opted_out: bool = False
    unreachable: bool = False  # the platform refuses delivery (e.g. the user blocked the bot)


class Person(PersonBase, table=True):
    """Someone the bot talks to, once per channel. Anonymous respondents have no row."""

    __table_args__ = (UniqueConstraint("channel", "platform_id"),)
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    timezone: str | None = Field(default=None, max_length=64)  # IANA name, where the platform tells it (Slack)


class InvitationState(StrEnum):
    """What became of an invitation's message; once sent, its conversation tells whether it was started and
    completed."""

    INVITED = "invited"  # recorded, its message waiting in the outbox
    SKIPPED = "skipped"  # no message, by a rule (opted out, unreachable), with the reason
    SENT = "sent"  # the message was delivered: the survey is open at its first question
    FAILED = "failed"  # the platform refused it for good, with the reason


class Campaign(SQLModel, table=True):
    """A survey sent to a list of recipients (`feedbackbot campaign send`); its invitations name it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    survey_id: str = Field(max_length=64)
    rate: float  # invitations per second at most
    source: str | None = Field(default=None, max_length=255)  # the recipients file's name, as given
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # The send time of its last invitation written: a resumed run spaces its own after it.
    paced_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Invitation(SQLModel, table=True):
    """A link, campaign or event that invites someone to a survey, with the reference it ties answers to."""

    # A caller's retried request (same API key, same Idempotency-Key) finds the invitation it made; a campaign's
    # idempotency key names the recipient, so a rerun finds whom it invited already.
    __table_args__ = (
        UniqueConstraint("api_key", "idempotency_key"),
        UniqueConstraint("campaign_id", "idempotency_key"),
        Index("ix_invitation_person_id_created_at", "person_id", "created_at"),  # the recontact rule's lookup
    )
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    survey_id: str = Field(max_length=64)
    reference: str | None = Field(default=None, max_length=128)
    person_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    channel: str | None = Field(default=None, max_length=32)  # where the message goes
    state: str = Field(default=InvitationState.INVITED, max_length=16)
    reason: str | None = Field(default=None, max_length=200)  # why it was skipped or failed
    attributes: dict[str, str] | None = Field(default=None, sa_type=JSON)  # region, plan, agent...: filterable
    api_key: str | None = Field(default=None, max_length=32)  # the name of the API key that made it
    idempotency_key: str | None = Field(default=None, max_length=128)
    request_hash: str | None = Field(default=None, max_length=64)  # of the request, to tell a retry from a reuse
    # Indexed: the reminders' sweep reaches invitations from the open conversations.
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", ondelete="SET NULL", index=True)
    sent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    link_id: int | None = Field(default=None, foreign_key="surveylink.id", ondelete="SET NULL")  # the link it came by
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    reminders_sent: int = 0  # claimed by the sweep, each with its outbox message
    last_reminded_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class SurveyLink(SQLModel, table=True):
    """A link (or QR code) to a survey: its short signed token stands for the survey, the reference and the
    attributes, which the link itself does not carry. Each survey started by it records an `Invitation`."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    survey_id: str = Field(max_length=64)
    reference: str | None = Field(default=None, max_length=128)
    attributes: dict[str, str] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    created_by: str = Field(max_length=64)  # `api:KEY NAME`, or the operating-system user of `feedbackbot link`
    expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class ConversationBase(SQLModel):
    survey_id: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=32)
    # A keyed hash of channel and platform id: finds the open survey without storing who answers anonymously.
    respondent_key: str = Field(max_length=64)
    person_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    language: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=128)
    anonymous: bool = False
    status: str = Field(default=ConversationStatus.OPEN, max_length=16)
    current_question: str | None = Field(default=None, max_length=64)
    has_complaint: bool = False  # spares a lookup on every later free-text answer


class Conversation(ConversationBase, table=True):
    """One person taking one survey; its state is the current question."""

    __table_args__ = (
        Index(
            "uq_one_open_conversation",
            "channel",
            "respondent_key",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_conversation_survey_started", "survey_id", "started_at"),  # a report's latest contradictions
        Index("ix_conversation_updated", "updated_at"),  # the conversations changed since the tallies' last fold
    )
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    closed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AnswerBase(SQLModel):
    question_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    value: int | None = None  # scales, ratings, yes/no (1/0)
    choice: str | None = Field(default=None, max_length=64)  # the option key of a single choice
    text: str | None = Field(default=None, sa_type=Text)  # free text
    skipped: bool = False
    polarity: float | None = None
    subjectivity: float | None = None
    sentiment_label: str | None = Field(default=None, max_length=16)
    # The platform's name for the message that gave a typed answer, so that editing the message updates it.
    message_ref: str | None = Field(default=None, max_length=64, index=True)


class Answer(AnswerBase, table=True):
    """One stored answer; a later press of an earlier question's button updates it in place."""

    __table_args__ = (
        UniqueConstraint("conversation_id", "question_id"),
        Index("ix_answer_label_answered", "sentiment_label", "answered_at"),  # a report's latest negative comments
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE", index=True)
    answered_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ComplaintReason(StrEnum):
    LOW_SCORE = "low_score"
    NEGATIVE_TEXT = "negative_text"
    EXPLICIT = "explicit"


class Complaint(SQLModel, table=True):
    """A complaint detected in a survey or made explicitly; the case workflow builds on it."""

    # A report's cases: a survey's, opened since the period's start (a case is opened after its survey started).
    __table_args__ = (Index("ix_complaint_survey_created", "survey_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", ondelete="SET NULL", unique=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    channel: str = Field(max_length=32)
    survey_id: str | None = Field(default=None, max_length=64)  # its conversation's
    reference: str | None = Field(default=None, max_length=128)
    reasons: str = Field(max_length=128)  # comma-separated ComplaintReason values, first trigger first
    text: str | None = Field(default=None, sa_type=Text)  # the customer's own words
    polarity: float | None = None
    # The case staff work on: new -> acknowledged -> resolved -> closed, or reopened.
    status: str = Field(default="new", max_length=16)
    category: str | None = Field(default=None, max_length=32)
    priority: str = Field(default="normal", max_length=16)
    assignee: str | None = Field(default=None, max_length=64)
    due_ack_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    due_resolve_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    corrective_action: str | None = Field(default=None, sa_type=Text)
    root_cause: str | None = Field(default=None, max_length=32)
    awaiting_reply: bool = False  # staff wrote to the customer: their next message goes to the case
    # For an anonymous respondent: a keyed hash only the bot can match, so the outcome reaches them through the bot.
    follow_up_key: str | None = Field(default=None, max_length=64, index=True)
    escalations: int = 0
    escalated_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class CaseStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"  # staff did their part; waits for the customer's "Is this resolved for you?"
    CLOSED = "closed"  # the customer confirmed it: nothing more happens
    REOPENED = "reopened"


# An open case waits for staff: to be acknowledged, assigned or resolved. The one meaning of "open case".
OPEN_CASE_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.REOPENED})


class CaseEvent(SQLModel, table=True):
    """The audit trail of a case: who did what, when."""

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", ondelete="CASCADE", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    actor: str = Field(max_length=64)  # a staff id, "customer" or "system"
    action: str = Field(max_length=32)
    detail: str | None = Field(default=None, sa_type=Text)


class CaseReference(SQLModel, table=True):
    """Where a case's staff alert is on a channel (the platform's id of the message), so that later steps update it
    in place or answer in its thread."""

    case_id: int = Field(foreign_key="complaint.id", ondelete="CASCADE", primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    target: str = Field(max_length=128)  # the staff chat or channel the alert went to
    reference: str = Field(max_length=64)  # a Telegram message id, a Slack ts


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


# What the partial indexes of the outbox's pending messages hold; a claim spells them out literally, as a bound
# parameter would keep PostgreSQL's generic plan from using the index.
PENDING_UNPACED = f"status = '{OutboxStatus.PENDING}' AND pace_seconds IS NULL"
PENDING_PACED = f"status = '{OutboxStatus.PENDING}' AND pace_seconds IS NOT NULL"


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change it reports; the dispatcher sends it once."""

    # The dispatcher claims the oldest pending messages, the unpaced apart from the paced: these indexes hold only
    # those, so that a claim reads a few rows rather than every message ever sent before them.
    __table_args__ = tuple(
        Index(name, "id", sqlite_where=text(pending), postgresql_where=text(pending))
        for name, pending in (
            ("ix_outbox_pending_unpaced", PENDING_UNPACED),
            ("ix_outbox_pending_paced", PENDING_PACED),
        )
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)  # which sender delivers it
    kind: str = Field(max_length=32)  # a bot.outbound.Kind
    payload: str = Field(sa_type=Text)  # the message as JSON, checked against its kind's model
    case_id: int | None = Field(default=None, index=True)  # the case the message belongs to, if any
    status: str = Field(default=OutboxStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    claimed_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    sent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The correlation id of the update or request that queued it, so that its send is logged under that id.
    correlation_id: str | None = Field(default=None, max_length=64)
    # Seconds kept between two sends of paced (bulk) messages such as a campaign's invitations, which are claimed
    # after every unpaced one; None for the rest.
    pace_seconds: float | None = None


class InboundEvent(SQLModel, table=True):
    """A platform update already applied, with the reply it got: a redelivery has no second effect."""

    channel: str = Field(max_length=32, primary_key=True)
    event_id: str = Field(max_length=128, primary_key=True)
    # Whose event it was (the keyed hash), so that forgetting a person also blanks the replies they got.
    respondent_key: str | None = Field(default=None, max_length=64, index=True)
    reply: str = Field(sa_type=Text)  # JSON of the prompts returned the first time
    delivered: int = 0  # how many of the reply's messages the channel has sent: a retry sends only the rest
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class InboxUpdate(SQLModel, table=True):
    """A raw platform update stored before it is acknowledged, so a crash before handling loses nothing."""

    channel: str = Field(max_length=32, primary_key=True)
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: str | None = Field(default=None, sa_type=Text)  # emptied once handled: it holds names
    attempts: int = 0  # failed handlings; given up after a few
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    handled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AuditEntry(SQLModel, table=True):
    """An operator's data request (an export or an erasure), without the data: whose is a keyed hash."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    actor: str = Field(max_length=64)  # the OS user who ran the command
    action: str = Field(max_length=32)  # "person.export", "person.forget"
    subject: str = Field(max_length=64)  # the person's respondent key, never their platform id
    counts: str = Field(sa_type=Text)  # JSON: how many records of each kind were exported or erased


class ScheduledJob(SQLModel, table=True):
    """A job that one of several processes runs when it is due: the process that moves `due_at` on runs it."""

    name: str = Field(primary_key=True, max_length=64)
    due_at: datetime = Field(sa_column=_timestamp())
    last_run_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AnswerDay(SQLModel, table=True):
    """The answers of the conversations of one survey, channel and UTC day (of their start), counted alike in all a
    report reads of them: storage/tally.py folds it from the conversations changed since its last fold."""

    __table_args__ = (Index("ix_answerday_survey_day", "survey_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    survey_id: str = Field(max_length=64)
    day: date
    channel: str = Field(max_length=32)
    question_id: str = Field(max_length=64)
    value: int | None = None
    skipped: bool
    label: str | None = Field(default=None, max_length=16)  # the sentiment label
    polarity_bin: int | None = None  # storage/reports.py's POLARITY_EDGES
    answers: int
    anonymous: int  # of which anonymous


class RespondentDay(SQLModel, table=True):
    """The conversations of one survey, channel and UTC day (of their start) with at least one answer."""

    survey_id: str = Field(max_length=64, primary_key=True)
    day: date = Field(primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    respondents: int
    anonymous: int  # of which anonymous
    completed: int


class StoppedDay(SQLModel, table=True):
    """The conversations of one survey and UTC day (of their start) not completed, by where they stopped: the
    question waiting, or their last answer (storage/reports.py's Stopped)."""

    __table_args__ = (Index("ix_stoppedday_survey_day", "survey_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    survey_id: str = Field(max_length=64)
    day: date
    waiting_at: str | None = Field(default=None, max_length=64)
    last_question: str | None = Field(default=None, max_length=64)
    last_value: int | None = None
    last_choice: str | None = Field(default=None, max_length=64)
    last_skipped: bool | None = None
    conversations: int


class TallyMark(SQLModel, table=True):
    """How far the daily tallies are folded: the latest `updated_at` of the conversations they count (none: not yet
    folded, or to be folded again from scratch)."""

    name: str = Field(primary_key=True, max_length=32)
    through: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
