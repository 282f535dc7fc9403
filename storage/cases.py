"""The statements of the case workflow: a case locked for a step, its customer, where its staff alerts are."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CaseEvent, CaseReference, Complaint, Person
from storage.queries import insert_row


class StaffMessage(NamedTuple):
    """A case's staff alert on one channel: the chat or channel it is in and the platform's id of it."""

    target: str
    reference: str


async def lock_case(session: AsyncSession, *, case_id: int) -> Complaint | None:
    """The case, locked until the transaction ends (PostgreSQL): its steps run one at a time."""
    statement = select(Complaint).where(Complaint.id == case_id).with_for_update()
    return (await session.exec(statement)).first()


# Answers open and change cases, so these are Core statements: the ORM's flush would cost more than the writes. The
# case an answer changes is out of the session (storage.queries.load_conversation) and written by them alone; a
# case workflow's step adds its trail line with them too, and its locked case's changes are flushed at commit.
UPDATE_CASE = update(Complaint).where(col(Complaint.id) == bindparam("case_id"))
INSERT_TRAIL_LINE = insert(CaseEvent)
LET_FOLLOW_UP = UPDATE_CASE.where(col(Complaint.conversation_id).is_not(None))


async def add_case(session: AsyncSession, case: Complaint) -> int:
    """Stores a new case in the transaction; its number, now known, names it to staff."""
    case.id = await insert_row(session, case)
    return case.id


async def save_case_words(session: AsyncSession, case: Complaint) -> None:
    """Writes what the customer's answers change of their case: its reasons, words, sentiment and category."""
    words = {"reasons": case.reasons, "text": case.text, "polarity": case.polarity, "category": case.category}
    await (await session.connection()).execute(UPDATE_CASE, {"case_id": case.id, **words})


async def save_case_priority(session: AsyncSession, case: Complaint) -> None:
    """Writes the case's priority and the due times that follow from it."""
    priority = {"priority": case.priority, "due_ack_at": case.due_ack_at, "due_resolve_at": case.due_resolve_at}
    await (await session.connection()).execute(UPDATE_CASE, {"case_id": case.id, **priority})


async def add_trail_line(
    session: AsyncSession, case: Complaint, at: datetime, actor: str, action: str, detail: str
) -> None:
    """One line of the case's audit trail."""
    assert case.id is not None
    line = {"complaint_id": case.id, "at": at, "actor": actor, "action": action, "detail": detail}
    await (await session.connection()).execute(INSERT_TRAIL_LINE, line)


async def let_follow_up(session: AsyncSession, *, case_id: int, follow_up_key: str) -> None:
    """The keyed hash of an anonymous survey's author on its case, so that the bot alone can bring them the outcome;
    a direct complaint, which names its author, needs none."""
    await (await session.connection()).execute(LET_FOLLOW_UP, {"case_id": case_id, "follow_up_key": follow_up_key})


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
