"""The event dispatcher: applies each core event once, by handing it to the part of the core whose job it is."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.answers import AnswerStore
from bot.cases import CaseDesk
from bot.conversations import Conversations
from bot.customer_replies import CaseReplies
from bot.events import (
    ChoiceAnswer,
    Complain,
    EditText,
    Event,
    Forget,
    NotText,
    OptOut,
    Respondent,
    SetLanguage,
    StartSurvey,
    SubmitSurvey,
    TextAnswer,
)
from bot.people import People, PrivacyKeys
from bot.prompts import ComplaintOpened, NoticeKind, Prompt, Reply, notice
from bot.sentiment import Analyzer
from bot.surveys import Survey, SurveyCatalogue
from bot.tallies import EventTallies
from bot.turn import Turn
from storage import cases as stored_cases
from storage import queries
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)


class Engine:
    """Applies each event once and routes it to the part whose job it is. The parts channels use are public:
    `catalogue` (the surveys), `conversations` (surveys being taken), `people` (settings) and `keys` (privacy).
    All state lives in the database, so any process serves any event."""

    def __init__(
        self,
        *,
        database: Database,
        surveys: Mapping[str, Survey],
        analyzer: Analyzer,
        hash_key: bytes,
        desk: CaseDesk | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        desk = desk or CaseDesk()
        self.database = database
        self.clock = clock
        self.keys = PrivacyKeys(hash_key)
        self.tallies = EventTallies()  # for /metrics
        self.catalogue = SurveyCatalogue(surveys)
        self.people = People(database, self.keys)
        self._answers = AnswerStore(analyzer, desk)
        self.conversations = Conversations(
            database=database,
            catalogue=self.catalogue,
            keys=self.keys,
            people=self.people,
            answers=self._answers,
            case_replies=CaseReplies(desk),
            webhooks=desk.webhooks,
            clock=clock,
        )

    async def handle(self, event: Event, *, grouped: bool = False) -> Reply:
        """Applies the event once: a redelivered event returns its first reply, marked duplicate. A `grouped` one
        shares the transaction of the others handled at the same moment (the group commit's): the invitations a
        dispatcher sends together."""
        kind = event.who.channel, type(event).__name__
        self.tallies.received[kind] += 1
        with self.tallies.handling.labels(*kind).time():
            return await self._handle_once(event, grouped)

    async def _handle_once(self, event: Event, grouped: bool) -> Reply:
        try:
            reply = await self._apply_and_record(event, grouped)
        except IntegrityError:
            # The event was applied before (a redelivery), or a concurrent first contact won a race; either way
            # this attempt was rolled back whole.
            seen = await self._recorded_reply(event)
            if seen is not None:
                self.tallies.duplicates[event.who.channel, type(event).__name__] += 1
                return seen
            log.info("retrying %s event %s after a concurrent write", event.who.channel, event.event_id)
            reply = await self._apply_and_record(event, grouped)
        self.tallies.handled[event.who.channel, type(event).__name__] += 1
        if isinstance(event, Forget):  # erased from the tables is not yet erased from the database files
            self.database.request_scrub()  # again, once a channel dropped its raw copies of the person's updates
            await self.database.scrub()
        for prompt in reply.prompts:
            if isinstance(prompt, ComplaintOpened):
                self.tallies.complaints[event.who.channel] += 1
                log.info(
                    "complaint %s opened (%s) on %s", prompt.complaint_id, ",".join(prompt.reasons), event.who.channel
                )
        return reply

    async def _apply_and_record(self, event: Event, grouped: bool) -> Reply:
        """Applies the event and records it with its reply in the same transaction.

        The record is inserted last: for a redelivered event its primary key collides and the whole attempt
        rolls back (a group commit's then runs each of its events alone), which spares every event a lookup
        beforehand.
        """
        return await self.database.write(partial(self._applied_and_recorded, event), grouped=grouped)

    async def _applied_and_recorded(self, event: Event, session: AsyncSession) -> Reply:
        reply = Reply(prompts=await self._apply(session, event))
        await self._let_anonymous_follow_up(session, event.who, reply)
        # Forgetting unlinks the person's events, so its own record names nobody; nor does an event about an
        # anonymous conversation, which would otherwise link it to the person.
        anonymous = any(getattr(prompt, "anonymous", False) for prompt in reply.prompts)
        key = None if isinstance(event, Forget) or anonymous else self.keys.respondent_key(event.who)
        await queries.record_event(
            await session.connection(),
            channel=event.who.channel,
            event_id=event.event_id,
            respondent_key=key,
            reply=reply.model_dump_json(),
        )
        return reply

    async def _let_anonymous_follow_up(self, session: AsyncSession, who: Respondent, reply: Reply) -> None:
        """An anonymous complaint keeps a keyed hash of its author, so the bot alone can bring them the outcome."""
        for prompt in reply.prompts:
            if isinstance(prompt, ComplaintOpened) and prompt.anonymous:
                await stored_cases.let_follow_up(
                    session, case_id=prompt.complaint_id, follow_up_key=self.keys.follow_up_key(who)
                )

    async def _recorded_reply(self, event: Event) -> Reply | None:
        async with self.database.snapshot() as session:
            seen = await queries.get_event(session, channel=event.who.channel, event_id=event.event_id)
        if seen is None:
            return None
        return Reply.model_validate_json(seen.reply).model_copy(update={"duplicate": True, "delivered": seen.delivered})

    async def _apply(self, session: AsyncSession, event: Event) -> list[Prompt]:
        now = self.clock()
        match event:
            case StartSurvey():
                return await self.conversations.start(session, now, event)
            case SubmitSurvey():
                return await self.conversations.submit(session, now, event)
            case TextAnswer() | ChoiceAnswer() | EditText():
                return await self.conversations.answer(session, now, event)
            case Complain():
                return await self._answers.complain(
                    Turn(session, now, await self.people.language_in(session, event.who)), event
                )
            case NotText():
                return [notice(NoticeKind.HINT, "hint_not_text", await self.people.language_in(session, event.who))]
            case SetLanguage():
                language = await self.people.choose_language(session, event.who, event.language)
                continued = await self.conversations.continue_in(session, now, event.who, language)
                return [notice(NoticeKind.INFO, "language_set", language), *continued]
            case OptOut():
                language = await self.people.language_in(session, event.who)
                await self.people.opt_out(session, event.who)
                await self.conversations.close_open(session, now, event.who)
                return [notice(NoticeKind.INFO, "opted_out", language)]
            case Forget():
                language = await self.people.language_in(session, event.who)
                await self.people.forget(session, event.who)
                return [notice(NoticeKind.INFO, "forgotten", language)]
