"""Invitations: recorded before their message is sent, found again by a caller's idempotency key, and read with
the state their conversation has reached."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import exists, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Answer, Conversation, ConversationStatus, Invitation, InvitationState, Person


class InvitationView(NamedTuple):
    """An invitation as the API shows it. `state` goes on from `sent` with its conversation: `started` once a
    question is answered, `completed` once the survey is, `partial` once it closed unfinished (expired, say)."""

    id: int
    survey_id: str
    channel: str | None
    person_id: int | None
    reference: str | None
    attributes: dict[str, str]
    state: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None
    request_hash: str | None


async def add_invitation(
    session: AsyncSession,
    *,
    token: str,
    survey_id: str,
    person: Person,
    reference: str | None,
    attributes: Mapping[str, str],
    state: InvitationState,
    reason: str | None,
    api_key: str | None,
    idempotency_key: str | None,
    request_hash: str,
    now: datetime,
    campaign_id: int | None = None,
) -> Invitation:
    """Adds the invitation to the caller's transaction, with its id."""
    invitation = Invitation(
        token=token,
        survey_id=survey_id,
        reference=reference,
        person_id=person.id,
        channel=person.channel,
        attributes=dict(attributes),
        state=state,
        reason=reason,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
        campaign_id=campaign_id,
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def get_invitation(session: AsyncSession, *, invitation_id: int) -> InvitationView | None:
    invitation = await session.get(Invitation, invitation_id)
    return None if invitation is None else await _view(session, invitation)


async def find_by_idempotency_key(
    session: AsyncSession, *, api_key: str, idempotency_key: str
) -> InvitationView | None:
    statement = select(Invitation).where(Invitation.api_key == api_key, Invitation.idempotency_key == idempotency_key)
    invitation = (await session.exec(statement)).first()
    return None if invitation is None else await _view(session, invitation)


async def find_in_campaign(session: AsyncSession, *, campaign_id: int, idempotency_key: str) -> InvitationView | None:
    statement = select(Invitation).where(
        Invitation.campaign_id == campaign_id, Invitation.idempotency_key == idempotency_key
    )
    invitation = (await session.exec(statement)).first()
    return None if invitation is None else await _view(session, invitation)


async def lock_person(session: AsyncSession, *, person_id: int) -> None:
    """Holds the person's row until the transaction ends, so that a second invitation to them waits and then sees
    the first (PostgreSQL; SQLite's writers take turns anyway)."""
    await session.exec(select(Person.id).where(col(Person.id) == person_id).with_for_update())


async def invited_since(session: AsyncSession, *, person_id: int, since: datetime, survey_id: str | None) -> bool:
    """Whether the person was invited (to `survey_id`, or to any survey) at or after `since`: an invitation sent or
    waiting to be, not one skipped or failed."""
    statement = select(Invitation.id).where(
        Invitation.person_id == person_id,
        col(Invitation.created_at) >= since,
        col(Invitation.state).in_([InvitationState.INVITED, InvitationState.SENT]),
    )
    if survey_id is not None:
        statement = statement.where(Invitation.survey_id == survey_id)
    return (await session.exec(statement.limit(1))).first() is not None


async def _view(session: AsyncSession, invitation: Invitation) -> InvitationView:
    assert invitation.id is not None
    return InvitationView(
        id=invitation.id,
        survey_id=invitation.survey_id,
        channel=invitation.channel,
        person_id=invitation.person_id,
        reference=invitation.reference,
        attributes=dict(invitation.attributes or {}),
        state=await _state(session, invitation),
        reason=invitation.reason,
        created_at=invitation.created_at,
        sent_at=invitation.sent_at,
        request_hash=invitation.request_hash,
    )


async def _state(session: AsyncSession, invitation: Invitation) -> str:
    """The recorded state, or how far the conversation its message opened has gone."""
    if invitation.conversation_id is None:
        return invitation.state
    conversation = await session.get(Conversation, invitation.conversation_id)
    if conversation is None:
        return invitation.state
    if conversation.status == ConversationStatus.COMPLETED:
        return "completed"
    if conversation.status == ConversationStatus.PARTIAL:
        return "partial"  # closed unfinished: expired, replaced or stopped, its answers kept
    answered = exists().where(col(Answer.conversation_id) == conversation.id)
    return "started" if (await session.exec(select(answered))).one() else invitation.state


async def get_invitation_row(session: AsyncSession, *, invitation_id: int) -> Invitation | None:
    return await session.get(Invitation, invitation_id)


class ToSend(NamedTuple):
    """What sending an invitation needs to know of it and of its person (their columns None once forgotten)."""

    state: str
    survey_id: str
    reference: str | None
    opted_out: bool | None
    unreachable: bool | None


TO_SEND = (
    sa.select(
        col(Invitation.state),
        col(Invitation.survey_id),
        col(Invitation.reference),
        col(Person.opted_out),
        col(Person.unreachable),
    )
    .join_from(Invitation, Person, col(Person.id) == Invitation.person_id, isouter=True)
    .where(col(Invitation.id) == sa.bindparam("invitation_id"))
)


async def to_send(session: AsyncSession, *, invitation_id: int) -> ToSend | None:
    """The invitation's state, survey and reference with its person's standing, in one statement, as plain values."""
    connection = await session.connection()
    row = (await connection.execute(TO_SEND, {"invitation_id": invitation_id})).first()
    return None if row is None else ToSend(*row)


async def settle_invitation(
    session: AsyncSession, *, invitation_id: int, state: InvitationState, reason: str | None, now: datetime
) -> None:
    """Records what became of an invitation still waiting to be sent; a settled one keeps its state."""
    await settle_invitations(session, invitation_ids=[invitation_id], state=state, reason=reason, now=now)


async def settle_invitations(
    session: AsyncSession, *, invitation_ids: list[int], state: InvitationState, reason: str | None, now: datetime
) -> None:
    """Records the same outcome of invitations still waiting to be sent, in one statement; settled ones keep theirs."""
    statement = (
        update(Invitation)
        .where(col(Invitation.id).in_(invitation_ids), col(Invitation.state) == InvitationState.INVITED)
        .values(state=state, reason=reason, sent_at=now if state == InvitationState.SENT else None)
        .execution_options(synchronize_session=False)  # the session's other rows (a group commit's) go unsearched
    )
    await session.exec(statement)


async def link_conversation(session: AsyncSession, *, invitation_id: int, conversation: Conversation) -> None:
    """Ties the invitation to the survey its message opened, unless that survey is anonymous."""
    if conversation.anonymous or conversation.id is None:
        return
    statement = (
        update(Invitation)
        .where(col(Invitation.id) == invitation_id)
        .values(conversation_id=conversation.id)
        .execution_options(synchronize_session=False)  # the session's other rows (a group commit's) go unsearched
    )
    await session.exec(statement)


async def get_person_by_id(session: AsyncSession, *, person_id: int) -> Person | None:
    return await session.get(Person, person_id)
