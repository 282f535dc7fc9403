"""Invitations to a survey: recorded with the rule that may skip them, then sent through the outbox, where the
person's channel sends what starting the survey answers (its first question, with its buttons)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.engine import Engine
from bot.events import Respondent, StartSurvey
from bot.outbound import SurveyInvitation
from bot.outbox import enqueue
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
    whether the bot may write to someone who never wrote to it (Slack may; Telegram may not)."""

    def __init__(
        self, database: Database, engine: Engine, writes_first: Mapping[str, bool], clock: Callable[[], datetime]
    ) -> None:
        self.database, self.engine, self.writes_first, self.clock = database, engine, writes_first, clock

    async def invite(self, request: InvitationRequest, *, api_key: str, idempotency_key: str | None) -> Invited:
        """Records the invitation and queues its message, or records it skipped with the reason, with an audit
        line naming the API key; a request repeating an idempotency key gets the first one's invitation.
        Raises InvitationRefused or IdempotencyKeyReused."""
        survey = self.engine.catalogue.find(request.survey_id)
        if survey is None:
            known = self.engine.catalogue.available
            raise InvitationRefused(("survey",), f"no survey {request.survey_id!r}; the surveys are {known}")
        if idempotency_key is not None and (earlier := await self._earlier(request, api_key, idempotency_key)):
            return earlier
        try:
            async with self.database.transaction() as session:
                invitation_id = await self._record(session, request, survey.id, api_key, idempotency_key)
                view = await stored.get_invitation(session, invitation_id=invitation_id)
        except IntegrityError:  # the same key's request, made at the same moment, was recorded first
            if idempotency_key is None or not (earlier := await self._earlier(request, api_key, idempotency_key)):
                raise
            return earlier
        assert view is not None
        log.info("invitation %d to %s by API key %s: %s", view.id, view.survey_id, api_key, view.state)
        return Invited(view, replayed=False)

    async def get(self, invitation_id: int) -> InvitationView | None:
        async with self.database.snapshot() as session:
            return await stored.get_invitation(session, invitation_id=invitation_id)

    async def _earlier(self, request: InvitationRequest, api_key: str, idempotency_key: str) -> Invited | None:
        async with self.database.snapshot() as session:
            earlier = await stored.find_by_idempotency_key(session, api_key=api_key, idempotency_key=idempotency_key)
        if earlier is None:
            return None
        if earlier.request_hash != request.fingerprint():
            raise IdempotencyKeyReused
        return Invited(earlier, replayed=True)

    async def _record(
        self,
        session: AsyncSession,
        request: InvitationRequest,
        survey_id: str,
        api_key: str,
        idempotency_key: str | None,
    ) -> int:
        now = self.clock()
        person = await self._recipient(session, request.recipient)
        skipped = reason_to_skip(person)
        invitation = await stored.add_invitation(
            session,
            token=secrets.token_urlsafe(24),
            survey_id=survey_id,
            person=person,
            reference=request.reference,
            attributes=request.attributes,
            state=InvitationState.SKIPPED if skipped else InvitationState.INVITED,
            reason=skipped,
            api_key=api_key,
            idempotency_key=idempotency_key,
            request_hash=request.fingerprint(),
            now=now,
        )
        assert invitation.id is not None
        if skipped is None:
            message = SurveyInvitation(invitation_id=invitation.id, platform_id=person.platform_id)
            enqueue(session, channel=person.channel, message=message, now=now)
        state = invitation.state
        record_request(
            session,
            actor=f"api:{api_key}",
            action=AUDIT_ACTION,
            subject=f"invitation {invitation.id}",
            counts={state: 1},
        )
        return invitation.id

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
        async with self.database.transaction() as session:
            invitation = await stored.get_invitation_row(session, invitation_id=message.invitation_id)
            if invitation is None or invitation.state != InvitationState.INVITED:
                return None
            person = await stored.get_person_by_id(session, person_id=invitation.person_id or 0)
            skipped = "the person was forgotten" if person is None else reason_to_skip(person)
            if skipped is not None:
                await stored.settle_invitation(
                    session,
                    invitation_id=message.invitation_id,
                    state=InvitationState.SKIPPED,
                    reason=skipped,
                    now=self.clock(),
                )
                return None
            survey_id, reference = invitation.survey_id, invitation.reference
        who = Respondent(channel, message.platform_id)
        event = StartSurvey(who, f"invitation-{message.invitation_id}", survey_id, reference)
        reply = await self.engine.handle(event)
        async with self.database.transaction() as session:
            keys = self.engine.keys.respondent_keys(who)
            await stored.link_conversation(
                session, invitation_id=message.invitation_id, channel=channel, respondent_keys=keys
            )
        return Opening(event, reply)


def reason_to_skip(person: Person) -> str | None:
    """Why the person gets no invitation, if a rule says so."""
    if person.opted_out:
        return "opted out of surveys"
    if person.unreachable:
        return "unreachable: the platform refuses delivery (the person blocked the bot)"
    return None
