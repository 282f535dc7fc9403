"""One event being applied: what every part of the engine works with while it runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class Turn:
    """The event's transaction, its time and the language to answer in."""

    session: AsyncSession
    now: datetime
    language: str
