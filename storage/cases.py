"""The statements of the case workflow: a case locked for a step, its customer, where its staff alerts are."""

from __future__ import annotations

from typing import NamedTuple

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CaseReference, Complaint, Person


class StaffMessage(NamedTuple):
    """A case's staff alert on one channel: the chat or channel it is in and the platform's id of it."""

    target: str
    reference: str


async def lock_case(session: AsyncSession, *, case_id: int) -> Complaint | None:
    """The case, locked until the transaction ends (PostgreSQL): its steps run one at a time."""
    statement = select(Complaint).where(Complaint.id == case_id).with_for_update()
    return (await session.exec(statement)).first()


async def get_case(session: AsyncSession, *, case_id: int) -> Complaint | None:
    return await session.get(Complaint, case_id)


async def customer_of(session: AsyncSession, *, case: Complaint) -> Person | None:
    """The case's customer; None when anonymous or forgotten."""
    return await session.get(Person, case.person_id) if case.person_id is not None else None


async def remember_staff_message(
    session: AsyncSession, *, case_id: int, channel: str, target: str, reference: str
) -> None:
    """Where the case's staff alert is on the channel; a later alert on the same channel replaces it."""
    known = await session.get(CaseReference, (case_id, channel))
    if known is None:
        session.add(CaseReference(case_id=case_id, channel=channel, target=target, reference=reference))
    else:
        known.target, known.reference = target, reference


async def staff_message(session: AsyncSession, *, case_id: int, channel: str) -> StaffMessage | None:
    """Where the case's staff alert is on the channel, if it was sent there."""
    known = await session.get(CaseReference, (case_id, channel))
    return None if known is None else StaffMessage(known.target, known.reference)


async def mark_unreachable(session: AsyncSession, *, channel: str, platform_id: str) -> None:
    """The platform refuses to deliver to this person (they blocked the bot, left, were deactivated)."""
    statement = (
        update(Person)
        .where(col(Person.channel) == channel, col(Person.platform_id) == platform_id)
        .values(unreachable=True)
    )
    await session.exec(statement)
