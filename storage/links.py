"""Survey links: the row a link's token stands for, and the invitation each survey started by a link records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation, Invitation, InvitationState, SurveyLink


class LinkView(NamedTuple):
    id: int
    token: str
    survey_id: str
    reference: str | None
    attributes: dict[str, str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None


async def add_link(
    session: AsyncSession,
    *,
    token: str,
    survey_id: str,
    reference: str | None,
    attributes: Mapping[str, str],
    created_by: str,
    expires_at: datetime | None,
    now: datetime,
) -> LinkView:
    """Adds the link to the caller's transaction, with its id."""
    link = SurveyLink(
        token=token,
        survey_id=survey_id,
        reference=reference,
        attributes=dict(attributes),
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(link)
    await session.flush()
    return _view(link)


async def get_link(session: AsyncSession, *, token: str) -> LinkView | None:
    link = (await session.exec(select(SurveyLink).where(SurveyLink.token == token))).first()
    return None if link is None else _view(link)


async def record_link_use(
    session: AsyncSession, *, link_id: int, conversation: Conversation, invitation_token: str, now: datetime
) -> None:
    """An invitation by the link, tied to the survey it started (and to the person, unless it is anonymous): it
    carries the link's reference and attributes, which the API's response filters read. Its message was the link
    itself, so it counts as sent."""
    link = await session.get(SurveyLink, link_id)
    assert link is not None and conversation.id is not None
    session.add(
        Invitation(
            token=invitation_token,
            survey_id=conversation.survey_id,
            reference=conversation.reference,
            person_id=conversation.person_id,
            channel=conversation.channel,
            attributes=dict(link.attributes or {}),
            state=InvitationState.SENT,
            created_at=now,
            sent_at=now,
            conversation_id=conversation.id,
            link_id=link_id,
        )
    )


def _view(link: SurveyLink) -> LinkView:
    assert link.id is not None
    return LinkView(
        id=link.id,
        token=link.token,
        survey_id=link.survey_id,
        reference=link.reference,
        attributes=dict(link.attributes or {}),
        created_at=link.created_at,
        created_by=link.created_by,
        expires_at=link.expires_at,
    )
