"""People: the keyed hashes that stand for them, and their settings (language, opt-out, forgetting, reachable)."""

from __future__ import annotations

import hashlib
import hmac

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Respondent
from bot.i18n import base_language
from storage import queries
from storage.db import Database
from storage.models import Person


class PrivacyKeys:
    """Keyed hashes of a person: each finds one kind of their records, none can be turned back into an id."""

    def __init__(self, hash_key: bytes) -> None:
        self._hash_key = hash_key

    def respondent_key(self, who: Respondent, anonymous: bool = False) -> str:
        """Finds the person's open survey. Anonymous conversations get a hash of their own, so that nothing links
        them to the same person's named conversations; once closed they lose even that."""
        return self._hash(f"{'anonymous:' if anonymous else ''}{who.channel}:{who.user_id}")

    def respondent_keys(self, who: Respondent) -> list[str]:
        """Both of the person's conversation keys: named and anonymous."""
        return [self.respondent_key(who), self.respondent_key(who, anonymous=True)]

    def follow_up_key(self, who: Respondent) -> str:
        """Finds a person's anonymous cases, and nothing else of theirs."""
        return self._hash(f"follow-up:{who.channel}:{who.user_id}")

    def _hash(self, message: str) -> str:
        return hmac.new(self._hash_key, message.encode(), hashlib.sha256).hexdigest()


class People:
    """A person's settings. The methods taking a session work inside the transaction of the event being applied."""

    def __init__(self, database: Database, keys: PrivacyKeys) -> None:
        self._database = database
        self._keys = keys

    async def language_of(self, who: Respondent) -> str:
        """The language the person chose, else the one their client reports."""
        async with self._database.snapshot() as session:
            return await self.language_in(session, who)

    @staticmethod
    async def language_in(session: AsyncSession, who: Respondent) -> str:
        person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
        return base_language(person.language if person and person.language else who.language)

    @staticmethod
    async def enrol(session: AsyncSession, who: Respondent, language: str | None = None) -> Person:
        """The person, added on first contact with `language` (else their client's)."""
        return await queries.get_or_create_person(
            session, channel=who.channel, platform_id=who.user_id, language=language or who.language
        )

    @classmethod
    async def welcome_back(cls, session: AsyncSession, who: Respondent, *, enrol: bool) -> Person | None:
        """Starting a survey oneself undoes /stop and proves the bot can reach the person. Returns the person, added
        on first contact when `enrol` (None: new, and not enrolled for an anonymous survey)."""
        if enrol:
            person: Person | None = await cls.enrol(session, who)
        else:
            person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
        if person is not None and (person.opted_out or person.unreachable):  # else nothing to write
            person.opted_out = person.unreachable = False
        return person

    async def choose_language(self, session: AsyncSession, who: Respondent, language: str) -> str:
        """Stores the language the person chose, as its base language, and returns that."""
        chosen = base_language(language)
        person = await self.enrol(session, who, chosen)
        person.language = chosen
        return chosen

    async def opt_out(self, session: AsyncSession, who: Respondent) -> None:
        """No more surveys until the person starts one."""
        person = await self.enrol(session, who)
        person.opted_out = True

    async def forget(self, session: AsyncSession, who: Respondent) -> None:
        """Deletes the person's personal data; their scores stay, unlinked, in the aggregates."""
        await queries.forget_respondent(
            session, channel=who.channel, platform_id=who.user_id, respondent_keys=self._keys.respondent_keys(who)
        )
