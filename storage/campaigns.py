"""Campaigns: their record by name, how far their invitations' send times reach, and the funnel of their
invitations."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Answer, Campaign, Conversation, ConversationStatus, Invitation, InvitationState


class CampaignView(NamedTuple):
    id: int
    name: str
    survey_id: str
    rate: float
    source: str | None
    created_at: datetime
    paced_until: datetime | None


class Funnel(NamedTuple):
    """What became of a campaign's recipients: each written invitation is skipped (by the reason's rule) or
    invited; an invited one waits, was delivered or failed; a delivered one may be started, then completed."""

    skipped: dict[str, int]  # by reason
    waiting: int
    delivered: int
    failed: int
    started: int
    completed: int

    @property
    def invited(self) -> int:
        return self.waiting + self.delivered + self.failed


def _view(campaign: Campaign) -> CampaignView:
    assert campaign.id is not None
    return CampaignView(
        campaign.id,
        campaign.name,
        campaign.survey_id,
        campaign.rate,
        campaign.source,
        campaign.created_at,
        campaign.paced_until,
    )


async def get_campaign(session: AsyncSession, *, name: str) -> CampaignView | None:
    campaign = (await session.exec(select(Campaign).where(Campaign.name == name))).first()
    return None if campaign is None else _view(campaign)


async def add_campaign(
    session: AsyncSession, *, name: str, survey_id: str, rate: float, source: str | None, now: datetime
) -> CampaignView:
    campaign = Campaign(name=name, survey_id=survey_id, rate=rate, source=source, created_at=now)
    session.add(campaign)
    await session.flush()
    return _view(campaign)


async def written_recipients(session: AsyncSession, *, campaign_id: int) -> set[str]:
    """The recipients (their idempotency keys) the campaign has an invitation for."""
    statement = select(Invitation.idempotency_key).where(Invitation.campaign_id == campaign_id)
    return {key for key in await session.exec(statement) if key is not None}


async def set_rate(session: AsyncSession, *, campaign_id: int, rate: float) -> None:
    await session.exec(update(Campaign).where(col(Campaign.id) == campaign_id).values(rate=rate))


async def pace_until(session: AsyncSession, *, campaign_id: int, until: datetime) -> None:
    """Records the send time of the campaign's last invitation written so far."""
    await session.exec(update(Campaign).where(col(Campaign.id) == campaign_id).values(paced_until=until))


async def list_campaigns(session: AsyncSession) -> list[CampaignView]:
    campaigns = await session.exec(select(Campaign).order_by(col(Campaign.created_at).desc(), col(Campaign.id)))
    return [_view(campaign) for campaign in campaigns]


async def funnel(session: AsyncSession, *, campaign_id: int) -> Funnel:
    of_campaign = col(Invitation.campaign_id) == campaign_id
    states = select(Invitation.state, Invitation.reason, func.count()).where(of_campaign)
    counts = list(await session.exec(states.group_by(col(Invitation.state), col(Invitation.reason))))
    by_state: dict[str, int] = {}
    for state, _, count in counts:
        by_state[state] = by_state.get(state, 0) + count
    conversations = (
        select(Conversation.status, func.count(col(Conversation.id).distinct()))
        .join(Invitation, col(Invitation.conversation_id) == Conversation.id)
        .join(Answer, col(Answer.conversation_id) == Conversation.id)
        .where(of_campaign)
        .group_by(Conversation.status)
    )
    answered = {status: count for status, count in await session.exec(conversations)}
    return Funnel(
        skipped={reason or "": count for state, reason, count in counts if state == InvitationState.SKIPPED},
        waiting=by_state.get(InvitationState.INVITED, 0),
        delivered=by_state.get(InvitationState.SENT, 0),
        failed=by_state.get(InvitationState.FAILED, 0),
        started=sum(answered.values()),
        completed=answered.get(ConversationStatus.COMPLETED, 0),
    )
