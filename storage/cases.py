"""The statements of the case workflow: a case locked for a step, its customer, where its staff alerts are."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CaseEvent, CaseReference, Complaint, Person


class StaffMessage(NamedTuple):
    """A case's staff alert on one channel: the chat or channel it is in and the platform's id of it."""

    target: str
    reference: str


async def lock_case(session: AsyncSession, *, case_id: int) -> Complaint | None:
    """The case, locked until the transaction ends (PostgreSQL): its steps run one at a time."""
    statement = select(Complaint).where(Complaint.id == case_id).with_for_update()
    return (await session.exec(statement)).first()


async def add_case(session: AsyncSession, case: Complaint) -> int:
    """Stores a new case in the transaction; its number, now known, names it to staff."""
    session.add(case)
    await session.flush()
    assert case.id is not None
    return case.id


def add_trail_line(session: AsyncSession, case: Complaint, at: datetime, actor: str, action: str, detail: str) -> None:
    """One line of the case's audit trail."""
    assert case.id is not None
    session.add(CaseEvent(complaint_id=case.id, at=at, actor=actor, action=action, detail=detail))


async def let_follow_up(session: AsyncSession, *, case_id: int, follow_up_key: str) -> None:
    """The keyed hash of an anonymous survey's author on its case, so that the bot alone can bring them the outcome;
    a direct complaint, which names its author, needs none."""
    case = await session.get(Complaint, case_id)
    if case is not None and case.conversation_id is not None:
        case.follow_up_key = follow_up_key


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
