"""Responses as the HTTP API lists them: each survey taken (a conversation with at least one answer) with its
answers and the attributes of the invitation that opened it, filtered and paged by conversation id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Answer, Conversation, Invitation


class ResponseAnswer(NamedTuple):
    question: str
    kind: str
    value: int | None
    choice: str | None
    text: str | None  # the person's own words: untrusted
    skipped: bool
    sentiment: str | None
    polarity: float | None
    answered_at: datetime


class ResponseView(NamedTuple):
    id: int  # the conversation's
    survey_id: str
    channel: str
    person_id: int | None  # None when anonymous or forgotten
    reference: str | None
    language: str
    status: str
    started_at: datetime
    closed_at: datetime | None
    invitation_id: int | None
    attributes: dict[str, str]
    answers: list[ResponseAnswer]


async def response_page(
    session: AsyncSession,
    *,
    survey_id: str | None,
    since: datetime | None,
    until: datetime | None,
    reference: str | None,
    attributes: Mapping[str, str],
    after_id: int,
    limit: int,
) -> list[ResponseView]:
    """Up to `limit` responses after the conversation `after_id`, oldest first; `since`/`until` bound when they
    started, `attributes` must all match the invitation's."""
    answered = exists().where(col(Answer.conversation_id) == Conversation.id)
    statement = (
        select(Conversation, Invitation)
        .outerjoin(Invitation, col(Invitation.conversation_id) == Conversation.id)
        .where(col(Conversation.id) > after_id, answered)
        .order_by(col(Conversation.id))
        .limit(limit)
    )
    if survey_id is not None:
        statement = statement.where(Conversation.survey_id == survey_id)
    if since is not None:
        statement = statement.where(col(Conversation.started_at) >= since)
    if until is not None:
        statement = statement.where(col(Conversation.started_at) < until)
    if reference is not None:
        statement = statement.where(Conversation.reference == reference)
    for name, value in attributes.items():
        statement = statement.where(col(Invitation.attributes)[name].as_string() == value)
    rows = list(await session.exec(statement))
    answers = await _answers_of(session, [conversation.id for conversation, _ in rows if conversation.id is not None])
    return [_view(conversation, invitation, answers.get(conversation.id, [])) for conversation, invitation in rows]


async def _answers_of(session: AsyncSession, conversation_ids: list[int]) -> dict[int | None, list[ResponseAnswer]]:
    statement = select(Answer).where(col(Answer.conversation_id).in_(conversation_ids)).order_by(col(Answer.id))
    answers: dict[int | None, list[ResponseAnswer]] = {}
    for answer in await session.exec(statement):
        answers.setdefault(answer.conversation_id, []).append(
            ResponseAnswer(
                question=answer.question_id,
                kind=answer.kind,
                value=answer.value,
                choice=answer.choice,
                text=answer.text,
                skipped=answer.skipped,
                sentiment=answer.sentiment_label,
                polarity=answer.polarity,
                answered_at=answer.answered_at,
            )
        )
    return answers


def _view(conversation: Conversation, invitation: Invitation | None, answers: list[ResponseAnswer]) -> ResponseView:
    assert conversation.id is not None
    return ResponseView(
        id=conversation.id,
        survey_id=conversation.survey_id,
        channel=conversation.channel,
        person_id=None if conversation.anonymous else conversation.person_id,
        reference=conversation.reference,
        language=conversation.language,
        status=conversation.status,
        started_at=conversation.started_at,
        closed_at=conversation.closed_at,
        invitation_id=invitation.id if invitation else None,
        attributes=dict(invitation.attributes or {}) if invitation else {},
        answers=answers,
    )
