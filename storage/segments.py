"""Segments: the known people of a channel picked by attributes, for pulses that invite them again and again."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Invitation, Person


async def segment_members(
    session: AsyncSession, *, channel: str, attributes: Mapping[str, str], not_by_actor_prefix: str
) -> list[str]:
    """The platform ids of the channel's people whose latest invitation from the API or a link (any but those whose
    API key starts with `not_by_actor_prefix`: a pulse's own carry no attributes) has each of `attributes` with that
    value; in the order they became known."""
    latest = (
        select(func.max(Invitation.id))
        .where(
            col(Invitation.person_id) == Person.id,
            or_(col(Invitation.api_key).is_(None), ~col(Invitation.api_key).startswith(not_by_actor_prefix)),
        )
        .correlate(Person)
        .scalar_subquery()
    )
    statement = (
        select(Person.platform_id)
        .join(Invitation, col(Invitation.person_id) == Person.id)
        .where(Person.channel == channel, col(Invitation.id) == latest)
        .order_by(col(Person.id))
    )
    for key, value in attributes.items():
        statement = statement.where(col(Invitation.attributes)[key].as_string() == value)
    return list(await session.exec(statement))
