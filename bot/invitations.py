"""Invitations to a survey: recorded with the rule that may skip them, then sent through the outbox, where the
person's channel sends what starting the survey answers (its first question, with its buttons)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import FatigueRules, InvitationSettings
from bot.engine import Engine
from bot.events import Respondent, StartSurvey
from bot.outbound import SurveyInvitation
from bot.outbox import SHARED_OPENING, Pace, enqueue
from bot.prompts import Reply
from storage import invitations as stored
from storage import queries
from storage.db import Database
from storage.invitations import InvitationView
from storage.models import InvitationState, Person
from storage.person_record import record_request

log = logging.getLogger(__name__)
AUDIT_ACTION = "invitation.create"


class InvitationRefused(Exception):
    """A request the bot cannot invite for; `field` names what is wrong, as the request spells it."""

    def __init__(self, field: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class IdempotencyKeyReused(Exception):
    """An idempotency key already used by the same caller for another request."""


class _DryRun(Exception):
    """Rolls a dry run's transaction back, carrying what it would have recorded."""

    def __init__(self, invitation: InvitationView) -> None:
        super().__init__("dry run")
        self.invitation = invitation


@dataclass(frozen=True, slots=True)
class ToPerson:
    """A person known to the bot, by their id."""

    person_id: int


@dataclass(frozen=True, slots=True)
class ToPlatformUser:
    """Someone on a channel, by the platform's id of them."""

    channel: str
    platform_id: str


@dataclass(frozen=True, slots=True)
class InvitationRequest:
    survey_id: str
    recipient: ToPerson | ToPlatformUser
    reference: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Tells a retry of this request (same fingerprint) from another request under the same idempotency key."""
        recipient = {"kind": type(self.recipient).__name__, **vars_of(self.recipient)}
        fields = [self.survey_id, recipient, self.reference, dict(sorted(self.attributes.items()))]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def vars_of(recipient: ToPerson | ToPlatformUser) -> dict[str, object]:
    return {name: getattr(recipient, name) for name in recipient.__slots__}


@dataclass(frozen=True, slots=True)
class InCampaign:
    """An invitation written by a campaign: the campaign, who runs it (for the audit) and the next free slot of
    its messages, taken when a message is queued."""

    campaign_id: int | None  # None in the dry run of a campaign not yet recorded
    name: str
    actor: str
    next_slot: Callable[[], Pace]


@dataclass(frozen=True, slots=True)
class Invited:
    invitation: InvitationView
    replayed: bool  # the answer to an earlier request with the same idempotency key


@dataclass(frozen=True, slots=True)
class Opening:
    """What an invitation's message is: the reply to starting its survey, as an event of the person's."""

    event: StartSurvey
    reply: Reply


class Invitations:
    """Records invitations and opens their surveys when their messages go out. `writes_first`: by running channel,
    whether the bot may write to someone who never wrote to it (Slack may; Telegram may not); `rules`: the fatigue
    rules ([invitations])."""

    def __init__(
        self,
        database: Database,
        engine: Engine,
        writes_first: Mapping[str, bool],
        clock: Callable[[], datetime],
        rules: InvitationSettings | None = None,
    ) -> None:
        self.database, self.engine, self.writes_first, self.clock = database, engine, writes_first, clock
        self.rules = InvitationSettings() if rules is None else rules

    async def invite(
        self,
        request: InvitationRequest,
        *,
        api_key: str | None = None,
        idempotency_key: str | None,
        campaign: InCampaign | None = None,
        bulk: bool = False,
        dry_run: bool = False,
    ) -> Invited:
        """Records the invitation and queues its message, or records it skipped with the reason, with an audit
        line naming the API key or the campaign; a request repeating an idempotency key (of the API key, or of the
        campaign: its recipient) gets the first one's invitation. A `dry_run` records nothing and tells what would
        have been. A `bulk` invitation (one of a pulse's) is paced at `campaign_rate`, as a campaign's are: it waits
        behind the messages to staff and to people answering. Raises InvitationRefused or IdempotencyKeyReused."""
        survey = self.engine.catalogue.find(request.survey_id)
        if survey is None:
            known = self.engine.catalogue.available
            raise InvitationRefused(("survey",), f"no survey {request.survey_id!r}; the surveys are {known}")
        caller = Caller(api_key, idempotency_key, campaign, bulk)
        # A campaign leaves out the recipients its earlier runs wrote (Campaigns.send); the one it writes twice, or
        # that a concurrent run wrote meanwhile, is found by the unique key below.
        if idempotency_key is not None and campaign is None and (earlier := await self._earlier(request, caller)):
            return earlier
        try:
            async with self.database.transaction() as session:
                invitation_id = await self._record(session, request, survey.id, caller)
                view = await stored.get_invitation(session, invitation_id=invitation_id)
                if dry_run:
                    assert view is not None
                    raise _DryRun(view)
        except _DryRun as rolled_back:
            return Invited(rolled_back.invitation, replayed=False)
        except IntegrityError:  # the same key's request, made at the same moment, was recorded first
            if idempotency_key is None or not (earlier := await self._earlier(request, caller)):
                raise
            return earlier
        assert view is not None
        log.info("invitation %d to %s by %s: %s", view.id, view.survey_id, caller.actor, view.state)
        return Invited(view, replayed=False)

    async def get(self, invitation_id: int) -> InvitationView | None:
        async with self.database.snapshot() as session:
            return await stored.get_invitation(session, invitation_id=invitation_id)

    async def _earlier(self, request: InvitationRequest, caller: Caller) -> Invited | None:
        """The invitation made under the caller's idempotency key; a campaign's names the recipient, who is invited
        once whatever else a rerun's row says."""
        key = caller.idempotency_key
        assert key is not None
        async with self.database.snapshot() as session:
            if caller.campaign is not None:
                if caller.campaign.campaign_id is None:
                    return None
                earlier = await stored.find_in_campaign(
                    session, campaign_id=caller.campaign.campaign_id, idempotency_key=key
                )
            else:
                assert caller.api_key is not None
                earlier = await stored.find_by_idempotency_key(session, api_key=caller.api_key, idempotency_key=key)
        if earlier is None:
            return None
        if caller.campaign is None and earlier.request_hash != request.fingerprint():
            raise IdempotencyKeyReused
        return Invited(earlier, replayed=True)

    async def _record(self, session: AsyncSession, request: InvitationRequest, survey_id: str, caller: Caller) -> int:
        now = self.clock()
        person = await self._recipient(session, request.recipient)
        token = secrets.token_urlsafe(24)
        skipped = reason_to_skip(person) or await self._fatigue(
            session, person, survey_id, caller.sample_key(survey_id, request.reference, token), now
        )
        invitation = await stored.add_invitation(
            session,
            token=token,
            survey_id=survey_id,
            person=person,
            reference=request.reference,
            attributes=request.attributes,
            state=InvitationState.SKIPPED if skipped else InvitationState.INVITED,
            reason=skipped,
            api_key=caller.api_key,
            idempotency_key=caller.idempotency_key,
            request_hash=request.fingerprint(),
            now=now,
            campaign_id=caller.campaign.campaign_id if caller.campaign else None,
        )
        assert invitation.id is not None
        if skipped is None:
            message = SurveyInvitation(invitation_id=invitation.id, platform_id=person.platform_id)
            pace = caller.campaign.next_slot() if caller.campaign else self._bulk_pace(caller, now)
            enqueue(session, channel=person.channel, message=message, now=now, pace=pace)
        state = invitation.state
        record_request(
            session, actor=caller.actor, action=AUDIT_ACTION, subject=f"invitation {invitation.id}", counts={state: 1}
        )
        return invitation.id

    def _bulk_pace(self, caller: Caller, now: datetime) -> Pace | None:
        return Pace(now, 1 / self.rules.campaign_rate) if caller.bulk else None

    async def _fatigue(
        self, session: AsyncSession, person: Person, survey_id: str, sample_key: str, now: datetime
    ) -> str | None:
        """Why the fatigue rules of the survey skip the person, if they do."""
        rules = self.rules.rules_for(survey_id)
        assert person.id is not None
        if rules.recontact_days or rules.overall_recontact_days:  # another invitation at this moment waits for ours
            await stored.lock_person(session, person_id=person.id)
        if rules.recontact_days and await stored.invited_since(
            session, person_id=person.id, since=now - timedelta(days=rules.recontact_days), survey_id=survey_id
        ):
            return f"recontact_days: invited to {survey_id} in the last {rules.recontact_days} days"
        if rules.overall_recontact_days and await stored.invited_since(
            session, person_id=person.id, since=now - timedelta(days=rules.overall_recontact_days), survey_id=None
        ):
            return f"overall_recontact_days: invited to a survey in the last {rules.overall_recontact_days} days"
        if not sampled(rules, f"{sample_key}:{person.channel}:{person.platform_id}"):
            return f"sample_percent: not in the {rules.sample_percent:g}% sample"
        return None

    async def _recipient(self, session: AsyncSession, recipient: ToPerson | ToPlatformUser) -> Person:
        """The person invited; refused when unknown, or on a channel that is not running or may not write first."""
        if isinstance(recipient, ToPerson):
            person = await stored.get_person_by_id(session, person_id=recipient.person_id)
            if person is None:
                raise InvitationRefused(("recipient", "person_id"), "no person has this id")
            if person.channel not in self.writes_first:
                raise InvitationRefused(("recipient", "person_id"), f"the person's channel {person.channel} is off")
            return person
        if recipient.channel not in self.writes_first:
            running = ", ".join(sorted(self.writes_first)) or "none"
            raise InvitationRefused(
                ("recipient", "channel"), f"no channel {recipient.channel!r} is running (running: {running})"
            )
        person = await queries.get_person(session, channel=recipient.channel, platform_id=recipient.platform_id)
        if person is not None:
            return person
        if not self.writes_first[recipient.channel]:
            raise InvitationRefused(
                ("recipient", "platform_id"),
                f"{recipient.channel} lets the bot write only to people who started it, and this person has not: "
                "send them a link to the survey instead",
            )
        return await queries.get_or_create_person(
            session, channel=recipient.channel, platform_id=recipient.platform_id, language=None
        )

    async def opening(self, message: SurveyInvitation, channel: str) -> Opening | None:
        """Starts the invitation's survey for the person and gives the reply to send; None when it is no longer
        to be sent (settled already, or the person opted out, blocked the bot or was forgotten since)."""
        shared = SHARED_OPENING.get()  # with the other sends in progress, in the group commit's transactions
        to_open = await self.database.write(partial(self._still_to_send, message.invitation_id), grouped=shared)
        if to_open is None:
            return None
        survey_id, reference = to_open
        who = Respondent(channel, message.platform_id)
        event = StartSurvey(
            who, f"invitation-{message.invitation_id}", survey_id, reference, invitation_id=message.invitation_id
        )
        reply = await self.engine.handle(event, grouped=shared)
        return Opening(event, reply)

    async def _still_to_send(self, invitation_id: int, session: AsyncSession) -> tuple[str, str | None] | None:
        """The survey and reference of an invitation still to send; None when it is not, recorded skipped when its
        person can no longer be written to."""
        found = await stored.to_send(session, invitation_id=invitation_id)
        if found is None or found.state != InvitationState.INVITED:
            return None
        skipped = "the person was forgotten" if found.opted_out is None else reason_to_skip(found)
        if skipped is not None:
            await stored.settle_invitation(
                session, invitation_id=invitation_id, state=InvitationState.SKIPPED, reason=skipped, now=self.clock()
            )
            return None
        return found.survey_id, found.reference


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks for an invitation: an API key, or a campaign (its invitations have no API key)."""

    api_key: str | None
    idempotency_key: str | None
    campaign: InCampaign | None
    bulk: bool = False  # one of many invitations sent at once: paced

    @property
    def actor(self) -> str:
        """The audit log's name of the caller."""
        if self.campaign is not None:
            return f"campaign:{self.campaign.name}:{self.campaign.actor}"[:64]
        return f"api:{self.api_key}"

    def sample_key(self, survey_id: str, reference: str | None, token: str) -> str:
        """What decides, with the person, whether they are in the sample: a campaign's name, so that its rerun
        samples the same people; for the API, the survey and the reference (or idempotency key), so that a retry
        does too, and each order or ticket draws again."""
        if self.campaign is not None:
            return f"campaign:{self.campaign.name}"
        return f"{survey_id}:{reference or self.idempotency_key or token}"


def sampled(rules: FatigueRules, key: str) -> bool:
    """Whether the person is in the sample: a hash of the sample's key and the person (by their platform id, known
    before a dry run or a first invitation gives them a row), so the same question answers alike."""
    if rules.sample_percent >= 100:
        return True
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4]) % 10_000 < rules.sample_percent * 100


class Standing(Protocol):
    """Whether the bot may write to a person: a Person, or the columns of one read alone."""

    @property
    def opted_out(self) -> bool | None: ...

    @property
    def unreachable(self) -> bool | None: ...


def reason_to_skip(person: Standing) -> str | None:
    """Why the person gets no invitation, if a rule says so."""
    if person.opted_out:
        return "opted out of surveys"
    if person.unreachable:
        return "unreachable: the platform refuses delivery (the person blocked the bot)"
    return None
