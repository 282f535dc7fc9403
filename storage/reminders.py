"""Reminders of invited surveys: which invitations are due one, counted once however many processes sweep, and the
conversation a reminder asks on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import sqlalchemy
from sqlalchemy import ColumnElement, and_, false, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation, ConversationStatus, Invitation, InvitationState, Person


class DueReminder(NamedTuple):
    invitation_id: int
    channel: str
    platform_id: str
    timezone: str | None  # the person's, where known
    reminders_sent: int


class ReminderTarget(NamedTuple):
    conversation_id: int
    language: str


async def due_reminders(
    session: AsyncSession, *, cutoffs: Mapping[str, datetime], count: int, now: datetime, after_id: int, limit: int
) -> list[DueReminder]:
    """Invitations sent (not a link's use) whose survey is still open and unfinished, with fewer than `count`
    reminders, untouched (not sent, answered nor reminded) since their survey's cutoff in `cutoffs`, to people
    neither opted out nor unreachable; by id, after `after_id`."""
    last_sent = func.coalesce(col(Invitation.last_reminded_at), col(Invitation.sent_at))
    untouched = [
        and_(col(Invitation.survey_id) == survey, last_sent <= cutoff, col(Conversation.updated_at) <= cutoff)
        for survey, cutoff in cutoffs.items()
    ]
    statement = (
        sqlalchemy.select(  # more columns than sqlmodel's select is typed for
            col(Invitation.id),
            col(Person.channel),
            col(Person.platform_id),
            col(Person.timezone),
            col(Invitation.reminders_sent),
        )
        .join(Conversation, col(Conversation.id) == col(Invitation.conversation_id))
        .join(Person, col(Person.id) == col(Invitation.person_id))
        .where(
            col(Invitation.id) > after_id,
            col(Invitation.state) == InvitationState.SENT,
            col(Invitation.link_id).is_(None),  # whoever opened a link came by themselves: nobody invited them
            col(Invitation.reminders_sent) < count,
            *_still_open(now),
            or_(false(), *untouched),
        )
        .order_by(col(Invitation.id))
        .limit(limit)
        # PostgreSQL: the invitations read stay locked until the caller's transaction ends, and those another
        # process holds are skipped, so two sweeps never claim one reminder; conversations and people stay free.
        .with_for_update(of=Invitation, skip_locked=True)
    )
    rows = await (await session.connection()).execute(statement)
    return [
        DueReminder(invitation_id, channel, platform_id, timezone, sent)
        for invitation_id, channel, platform_id, timezone, sent in rows
        if invitation_id is not None  # a primary key: always there
    ]


async def count_reminders(session: AsyncSession, *, invitation_ids: list[int], now: datetime) -> None:
    """Counts a reminder for each invitation, which due_reminders read (and, on PostgreSQL, locked) in this
    transaction."""
    if not invitation_ids:
        return
    await session.exec(
        update(Invitation)
        .where(col(Invitation.id).in_(invitation_ids))
        .values(reminders_sent=col(Invitation.reminders_sent) + 1, last_reminded_at=now)
    )


async def reminder_target(session: AsyncSession, *, invitation_id: int, now: datetime) -> ReminderTarget | None:
    """The conversation the invitation's reminder asks on, while its survey is still open and its person neither
    opted out nor unreachable (nor forgotten)."""
    statement = (
        select(Conversation.id, Conversation.language)
        .join(Invitation, col(Invitation.conversation_id) == col(Conversation.id))
        .join(Person, col(Person.id) == col(Invitation.person_id))
        .where(col(Invitation.id) == invitation_id, *_still_open(now))
    )
    found = (await session.exec(statement)).first()
    return None if found is None or found[0] is None else ReminderTarget(found[0], found[1])


async def get_timezone(session: AsyncSession, *, channel: str, platform_id: str) -> str | None:
    statement = select(Person.timezone).where(Person.channel == channel, Person.platform_id == platform_id)
    return (await session.exec(statement)).first()


async def set_timezone(session: AsyncSession, *, channel: str, platform_id: str, timezone: str) -> None:
    """Records the time zone the platform tells for a person the bot knows."""
    statement = (
        update(Person)
        .where(col(Person.channel) == channel, col(Person.platform_id) == platform_id)
        .values(timezone=timezone[:64])
    )
    await session.exec(statement)


def _still_open(now: datetime) -> list[ColumnElement[bool]]:
    """The conversation still takes answers and its person may be written to."""
    return [
        col(Conversation.status) == ConversationStatus.OPEN,
        col(Conversation.expires_at) > now,
        col(Person.opted_out).is_(False),
        col(Person.unreachable).is_(False),
    ]
