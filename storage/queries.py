"""Query functions: module-level, keyword-only, session first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Answer, Complaint, Conversation, ConversationStatus, Person


async def get_person(session: AsyncSession, *, channel: str, platform_id: str) -> Person | None:
    statement = select(Person).where(Person.channel == channel, Person.platform_id == platform_id)
    return (await session.exec(statement)).first()


async def get_or_create_person(
    session: AsyncSession, *, channel: str, platform_id: str, language: str | None
) -> Person:
    """The person, created on first contact; a language their client reports fills a missing one."""
    person = await get_person(session, channel=channel, platform_id=platform_id)
    if person is None:
        person = Person(channel=channel, platform_id=platform_id, language=language)
        session.add(person)
        await session.flush()
    elif person.language is None and language is not None:
        person.language = language
    return person


async def get_open_conversation(session: AsyncSession, *, channel: str, respondent_key: str) -> Conversation | None:
    statement = select(Conversation).where(
        Conversation.channel == channel,
        Conversation.respondent_key == respondent_key,
        Conversation.status == ConversationStatus.OPEN,
    )
    return (await session.exec(statement)).first()


async def get_answers(session: AsyncSession, *, conversation_id: int) -> list[Answer]:
    statement = select(Answer).where(Answer.conversation_id == conversation_id).order_by(col(Answer.id))
    return list(await session.exec(statement))


async def get_complaint_for(session: AsyncSession, *, conversation_id: int) -> Complaint | None:
    statement = select(Complaint).where(Complaint.conversation_id == conversation_id)
    return (await session.exec(statement)).first()


async def close_expired_conversations(session: AsyncSession, *, now: datetime) -> int:
    """Closes every open conversation past its expiry as partial; returns how many."""
    statement = (
        update(Conversation)
        .where(col(Conversation.status) == ConversationStatus.OPEN, col(Conversation.expires_at) <= now)
        .values(status=ConversationStatus.PARTIAL, closed_at=now, current_question=None, updated_at=now)
    )
    result: CursorResult[tuple[()]] = await session.exec(statement)
    return result.rowcount
