"""A customer's message outside any survey, handed to the case whose staff wrote to them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cases import CaseDesk
from bot.events import Respondent
from storage import queries


class CaseReplies:
    """Puts a customer's answer to staff on their case's trail, and so in front of the staff."""

    def __init__(self, desk: CaseDesk) -> None:
        self._desk = desk

    async def forward(self, session: AsyncSession, now: datetime, who: Respondent, text: str) -> bool:
        """True when a case of the person awaits their reply and now has it."""
        person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
        case = await queries.case_awaiting_reply(session, person_id=person.id) if person and person.id else None
        if case is None:
            return False
        await self._desk.changed(session, case, now, "customer", "replied", queries.CUSTOMER_REPLY + text.strip())
        return True
