"""The survey engine: applies one core event to the conversation in the database and says what comes next."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.answers import SKIP, Invalid, Parsed, condition_value, parse_button, parse_typed
from bot.cases import CaseDesk, suggest_category
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
from bot.i18n import base_language, translate
from bot.prompts import ComplaintOpened, Notice, NoticeKind, Option, Prompt, QuestionPrompt, Reply
from bot.sentiment import Analyzer, Label, Sentiment
from bot.surveys import Question, QuestionKind, Survey, end_labels
from storage import queries
from storage.db import Database
from storage.models import Answer, Complaint, ComplaintReason, Conversation, ConversationStatus, InboundEvent
from storage.types import utcnow

log = logging.getLogger(__name__)
REFERENCE_LIMIT = 128  # an order or ticket number; a longer one is cut, not refused
MAX_ROW_ID = 2**31 - 1  # the largest id of a conversation (PostgreSQL's integer); button data may claim any


@dataclass(frozen=True, slots=True)
class Turn:
    """One event being applied: its transaction, its time and the language to answer in."""

    session: AsyncSession
    now: datetime
    language: str


@dataclass(slots=True)
class Sheet:
    """A conversation's answers by question and its complaint, loaded with it in one statement and kept current."""

    answers: dict[str, Answer] = field(default_factory=dict)
    complaint: Complaint | None = None
    complaint_is_new: bool = False  # opened by this event: its staff alert is still to come, with every answer

    @classmethod
    def of(cls, loaded: queries.LoadedConversation) -> Sheet:
        return cls({answer.question_id: answer for answer in loaded.answers}, loaded.complaint)


class Engine:
    """Platform-neutral survey logic; all state lives in the database, so any process can serve any event."""

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
        self.database = database
        self.surveys = surveys
        self.analyzer = analyzer
        self.hash_key = hash_key
        self.desk = desk or CaseDesk()
        self.clock = clock

    async def handle(self, event: Event) -> Reply:
        """Applies the event once: a redelivered event returns its first reply, marked duplicate."""
        try:
            reply = await self._apply_and_record(event)
        except IntegrityError:
            # The event was applied before (a redelivery), or a concurrent first contact won a race; either way
            # this attempt was rolled back whole.
            seen = await self._recorded_reply(event)
            if seen is not None:
                return seen
            log.info("retrying %s event %s after a concurrent write", event.who.channel, event.event_id)
            reply = await self._apply_and_record(event)
        if isinstance(event, Forget):  # erased from the tables is not yet erased from the database files
            self.database.request_scrub()  # again, once a channel dropped its raw copies of the person's updates
            await self.database.scrub()
        for prompt in reply.prompts:
            if isinstance(prompt, ComplaintOpened):
                log.info(
                    "complaint %s opened (%s) on %s", prompt.complaint_id, ",".join(prompt.reasons), event.who.channel
                )
        return reply

    async def expire_overdue(self) -> int:
        """Closes every open survey past its expiry as partial, keeping its answers."""
        async with self.database.transaction() as session:
            return await queries.close_expired_conversations(session, now=self.clock())

    @property
    def _available(self) -> str:
        return ", ".join(self.surveys)

    async def set_reachable(self, who: Respondent, reachable: bool) -> None:
        """Marks whether the platform delivers to this person (False after they block the bot)."""
        async with self.database.transaction() as session:
            person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
            if person is not None:
                person.unreachable = not reachable

    async def unreachable_ids(self, channel: str) -> set[str]:
        """The platform ids of everyone the channel cannot deliver to."""
        async with self.database.snapshot() as session:
            return await queries.unreachable_ids(session, channel=channel)

    async def language_of(self, who: Respondent) -> str:
        """The language the person chose, else the one their client reports."""
        async with self.database.snapshot() as session:
            person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
        return base_language(person.language if person and person.language else who.language)

    async def open_survey_of(self, who: Respondent) -> Survey | None:
        """The survey the person has open on this channel, anonymous ones included."""
        async with self.database.snapshot() as session:
            conversation = await queries.get_open_conversation(
                session, channel=who.channel, respondent_keys=self.respondent_keys(who)
            )
        if conversation is None or conversation.expires_at <= self.clock():
            return None
        return self.surveys.get(conversation.survey_id)

    async def open_question(self, who: Respondent) -> QuestionPrompt | None:
        """The question the person's open survey waits on, to ask again (after /help, say)."""
        async with self.database.snapshot() as session:
            conversation = await queries.get_open_conversation(
                session, channel=who.channel, respondent_keys=self.respondent_keys(who)
            )
            now = self.clock()
            if conversation is None or conversation.expires_at <= now:
                return None
            survey = self.surveys[conversation.survey_id]
            question = survey.question(conversation.current_question or "")
            assert question is not None  # an open conversation always stands at a question
            return self._ask(Turn(session, now, conversation.language), conversation, survey, question)

    def respondent_key(self, who: Respondent, anonymous: bool = False) -> str:
        """A keyed hash of who answers: finds their open survey, but cannot be turned back into an id.

        Anonymous conversations get a hash of their own, so that nothing links them to the same person's named
        conversations; once closed they lose even that (see _close).
        """
        message = f"{'anonymous:' if anonymous else ''}{who.channel}:{who.user_id}".encode()
        return hmac.new(self.hash_key, message, hashlib.sha256).hexdigest()

    def respondent_keys(self, who: Respondent) -> list[str]:
        return [self.respondent_key(who), self.respondent_key(who, anonymous=True)]

    async def _apply_and_record(self, event: Event) -> Reply:
        """Applies the event and records it with its reply in the same transaction.

        The record is inserted last: for a redelivered event its primary key collides and the whole attempt
        rolls back, which spares every event a lookup beforehand.
        """
        async with self.database.transaction() as session:
            reply = Reply(prompts=await self._apply(session, event))
            await self._let_anonymous_follow_up(session, event.who, reply)
            # Forgetting unlinks the person's events, so its own record names nobody; nor does an event about an
            # anonymous conversation, which would otherwise link it to the person.
            anonymous = any(getattr(prompt, "anonymous", False) for prompt in reply.prompts)
            key = None if isinstance(event, Forget) or anonymous else self.respondent_key(event.who)
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
                complaint = await session.get(Complaint, prompt.complaint_id)
                if complaint is not None and complaint.conversation_id is not None:
                    complaint.follow_up_key = self.follow_up_key(who)

    def follow_up_key(self, who: Respondent) -> str:
        """The keyed hash that finds a person's anonymous cases, and nothing else of theirs."""
        message = f"follow-up:{who.channel}:{who.user_id}".encode()
        return hmac.new(self.hash_key, message, hashlib.sha256).hexdigest()

    async def _recorded_reply(self, event: Event) -> Reply | None:
        async with self.database.snapshot() as session:
            seen = await session.get(InboundEvent, (event.who.channel, event.event_id))
        if seen is None:
            return None
        return Reply.model_validate_json(seen.reply).model_copy(update={"duplicate": True, "delivered": seen.delivered})

    async def _apply(self, session: AsyncSession, event: Event) -> list[Prompt]:
        now = self.clock()
        match event:
            case StartSurvey():
                return await self._start(session, now, event)
            case SubmitSurvey():
                return await self._submit(session, now, event)
            case TextAnswer() | ChoiceAnswer() | EditText():
                return await self._answer(session, now, event)
            case Complain():
                return await self._complain(await self._turn_for(session, now, event.who), event)
            case NotText():
                return [self._notice(await self._turn_for(session, now, event.who), NoticeKind.HINT, "hint_not_text")]
            case SetLanguage():
                return await self._set_language(session, now, event)
            case OptOut():
                return await self._opt_out(session, now, event)
            case Forget():
                return await self._forget(session, now, event)

    async def _turn_for(self, session: AsyncSession, now: datetime, who: Respondent) -> Turn:
        """A turn in the language the person chose, else the one their client reports."""
        person = await queries.get_person(session, channel=who.channel, platform_id=who.user_id)
        return Turn(session, now, base_language(person.language if person and person.language else who.language))

    def find_survey(self, survey_id: str) -> Survey | None:
        """The survey of that id, in any letter case: `/survey CSAT` and the deep link `/start CSAT` start csat."""
        wanted = survey_id.casefold()
        return self.surveys.get(survey_id) or next(
            (survey for known, survey in self.surveys.items() if known.casefold() == wanted), None
        )

    async def _start(self, session: AsyncSession, now: datetime, event: StartSurvey) -> list[Prompt]:
        """Opens the survey at its first question, or resumes it when it is already open."""
        survey = self.find_survey(event.survey_id)
        if survey is None:
            turn = Turn(session, now, base_language(event.who.language))
            return [self._unknown_survey(turn, event.survey_id)]
        person = await queries.get_person(session, channel=event.who.channel, platform_id=event.who.user_id)
        if person is not None:  # starting a survey oneself undoes /stop and proves the bot can reach them
            person.opted_out = person.unreachable = False
        open_conversation, _ = await self._open_conversation(session, now, event.who)
        same = open_conversation is not None and (open_conversation.survey_id, open_conversation.reference) == (
            survey.id,
            event.reference,
        )
        if open_conversation is not None and same:
            return await self._resume(Turn(session, now, open_conversation.language), open_conversation)
        prompts: list[Prompt] = []
        if open_conversation is not None:
            self._close(open_conversation, now, ConversationStatus.PARTIAL)
            await session.flush()  # frees the one-open-survey slot for the new conversation
            prompts.append(
                self._notice(Turn(session, now, open_conversation.language), NoticeKind.INFO, "survey_replaced")
            )
        conversation = await self._create_conversation(
            session, now, event.who, survey, reference=event.reference, anonymous=event.anonymous
        )
        turn = Turn(session, now, conversation.language)
        if survey.intro:
            prompts.append(Notice(kind=NoticeKind.INFO, text=survey.text(survey.intro, turn.language)))
        return prompts + await self._advance(turn, conversation, survey, after=None, answers={})

    async def _create_conversation(
        self,
        session: AsyncSession,
        now: datetime,
        who: Respondent,
        survey: Survey,
        *,
        reference: str | None,
        anonymous: bool | None,
        status: ConversationStatus = ConversationStatus.OPEN,
    ) -> Conversation:
        """A new conversation; an anonymous one is linked to no person (`anonymous` None: the survey decides)."""
        anonymous = survey.anonymous if anonymous is None else anonymous
        person = None
        language = who.language
        if not anonymous:
            person = await queries.get_or_create_person(
                session, channel=who.channel, platform_id=who.user_id, language=who.language
            )
            language = person.language or language
        conversation = Conversation(
            survey_id=survey.id,
            channel=who.channel,
            respondent_key=self.respondent_key(who, anonymous),
            person_id=person.id if person else None,
            language=base_language(language or survey.fallback_language),
            reference=reference[:REFERENCE_LIMIT] if reference else None,
            anonymous=anonymous,
            status=status,
            started_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=survey.expiry_hours),
        )
        session.add(conversation)
        await session.flush()
        return conversation

    async def _submit(self, session: AsyncSession, now: datetime, event: SubmitSurvey) -> list[Prompt]:
        """Stores a whole form at once as a completed survey; a bad answer stores nothing and names the question."""
        survey = self.find_survey(event.survey_id)
        turn = Turn(session, now, base_language(event.who.language))
        if survey is None:
            return [self._unknown_survey(turn, event.survey_id)]
        parsed: dict[str, Parsed] = {}
        for question in survey.questions:
            given = (event.answers.get(question.id) or "").strip()
            try:
                parsed[question.id] = self._parse_form_value(turn, survey, question, given)
            except Invalid as invalid:
                hint = translate(invalid.key, turn.language, **invalid.params)
                text = f"{survey.text(question.text, turn.language)} {hint}"
                return [Notice(kind=NoticeKind.HINT, text=text, question_id=question.id)]
        conversation = await self._create_conversation(
            session,
            now,
            event.who,
            survey,
            reference=None,
            anonymous=event.anonymous,
            status=ConversationStatus.COMPLETED,
        )
        turn = Turn(session, now, conversation.language)
        self._close(conversation, now, ConversationStatus.COMPLETED)
        prompts: list[Prompt] = []
        sheet = Sheet()
        for question in survey.questions:
            prompts += await self._store(turn, conversation, survey, question, parsed[question.id], None, sheet)
        return [*prompts, Notice(kind=NoticeKind.THANKS, text=survey.text(survey.thank_you, turn.language))]

    def _parse_form_value(self, turn: Turn, survey: Survey, question: Question, given: str) -> Parsed:
        """A form field: empty skips a question that is optional or asked only on a condition."""
        if not given:
            if question.optional or question.condition is not None:
                return Parsed(skipped=True)
            raise Invalid("hint_required")
        if question.kind == QuestionKind.TEXT:
            return parse_typed(question, given, [])
        return parse_button(question, given)

    async def _resume(self, turn: Turn, conversation: Conversation) -> list[Prompt]:
        survey = self.surveys[conversation.survey_id]
        question = survey.question(conversation.current_question or "")
        assert question is not None  # an open conversation always stands at a question
        return [self._notice(turn, NoticeKind.INFO, "survey_resumed"), self._ask(turn, conversation, survey, question)]

    async def _answer(
        self, session: AsyncSession, now: datetime, event: TextAnswer | ChoiceAnswer | EditText
    ) -> list[Prompt]:
        """Stores a valid answer and moves on; an invalid one gets a hint and the question again."""
        target = await self._target_of(session, now, event)
        if isinstance(target, list):
            return target
        conversation, sheet, question_id = target
        survey = self.surveys[conversation.survey_id]
        turn = Turn(session, now, conversation.language)
        question = survey.question(question_id or "")
        if question is None:
            return [self._notice(turn, NoticeKind.REFUSAL, "button_invalid")]
        earlier = question.id != conversation.current_question
        if earlier and question.id not in sheet.answers:
            return [self._notice(turn, NoticeKind.REFUSAL, "button_invalid")]  # a question not reached yet
        try:
            parsed = self._parse(turn, survey, question, event)
        except Invalid as invalid:
            kind = NoticeKind.REFUSAL if invalid.key == "button_invalid" else NoticeKind.HINT
            notice = self._notice(turn, kind, invalid.key, **invalid.params)
            return [notice] if earlier else [notice, self._ask(turn, conversation, survey, question)]
        message_ref = event.message_ref if isinstance(event, TextAnswer) else None
        prompts = await self._store(turn, conversation, survey, question, parsed, message_ref, sheet)
        conversation.updated_at = now
        if earlier:
            updated = self._notice(turn, NoticeKind.INFO, "answer_updated")
            return [updated, *prompts, *await self._reconsider(turn, conversation, survey, sheet.answers)]
        return prompts + await self._advance(turn, conversation, survey, after=question, answers=sheet.answers)

    async def _reconsider(
        self, turn: Turn, conversation: Conversation, survey: Survey, answers: dict[str, Answer]
    ) -> list[Prompt]:
        """After an earlier answer changed, the open question may no longer apply ("What went wrong?" once the score
        went up): then the first unanswered question that applies is asked instead."""
        current = survey.question(conversation.current_question or "")
        if conversation.status != ConversationStatus.OPEN or current is None or current.condition is None:
            return []
        given = _given(answers)
        if current.condition.holds(given):
            return []
        unanswered = [question for question in survey.questions if question.id not in answers]
        return self._ask_first_that_applies(turn, conversation, survey, unanswered, given)

    async def _target_of(
        self, session: AsyncSession, now: datetime, event: TextAnswer | ChoiceAnswer | EditText
    ) -> tuple[Conversation, Sheet, str | None] | list[Prompt]:
        """The conversation (with its sheet) and question the event answers, or the notices explaining why there is
        none. The conversation, its answers and its complaint come in one statement: this runs for every answer."""
        turn = Turn(session, now, base_language(event.who.language))
        match event:
            case TextAnswer():
                loaded = await queries.load_open_conversation(
                    session, channel=event.who.channel, respondent_keys=self.respondent_keys(event.who)
                )
                if loaded is not None and loaded.conversation.expires_at > now:
                    return loaded.conversation, Sheet.of(loaded), loaded.conversation.current_question
                if loaded is not None:
                    expired = loaded.conversation
                    self._close(expired, now, ConversationStatus.PARTIAL)
                    return [self._notice(Turn(session, now, expired.language), NoticeKind.REFUSAL, "survey_expired")]
                if await self._forwarded_to_case(session, now, event):
                    return [
                        self._notice(await self._turn_for(session, now, event.who), NoticeKind.INFO, "reply_forwarded")
                    ]
                return [self._notice(turn, NoticeKind.INFO, "no_open_survey", available=self._available)]
            case ChoiceAnswer():
                forged = not 0 < event.conversation_id <= MAX_ROW_ID  # no query for an id no row can have
                loaded = (
                    None if forged else await queries.load_conversation(session, conversation_id=event.conversation_id)
                )
                if loaded is None or loaded.conversation.respondent_key not in self.respondent_keys(event.who):
                    return [self._notice(turn, NoticeKind.REFUSAL, "button_invalid")]  # forged or someone else's
                return self._still_open(turn, loaded.conversation) or (
                    loaded.conversation,
                    Sheet.of(loaded),
                    event.question_id,
                )
            case EditText():
                answered = await queries.find_answer_by_message(
                    session, message_ref=event.message_ref, respondent_keys=self.respondent_keys(event.who)
                )
                if answered is None:
                    return []  # the edited message was not an answer
                answer, found = answered
                if found.expires_at <= now:  # until then even a finished survey takes corrections of typed answers
                    return [self._notice(Turn(session, now, found.language), NoticeKind.REFUSAL, "survey_closed")]
                assert found.id is not None
                loaded = await queries.load_conversation(session, conversation_id=found.id)
                assert loaded is not None  # found in this transaction
                return found, Sheet.of(loaded), answer.question_id

    async def _forwarded_to_case(self, session: AsyncSession, now: datetime, event: TextAnswer) -> bool:
        """A message outside any survey answers the staff who wrote to this person about a case, if any did."""
        person = await queries.get_person(session, channel=event.who.channel, platform_id=event.who.user_id)
        case = await queries.case_awaiting_reply(session, person_id=person.id) if person and person.id else None
        if case is None:
            return False
        self.desk.changed(session, case, now, "customer", "replied", queries.CUSTOMER_REPLY + event.text.strip())
        return True

    def _still_open(self, turn: Turn, conversation: Conversation) -> list[Prompt]:
        """Nothing when the conversation takes answers; else the refusal (closing it first if it just expired)."""
        turn = Turn(turn.session, turn.now, conversation.language)
        if conversation.status == ConversationStatus.OPEN and conversation.expires_at <= turn.now:
            self._close(conversation, turn.now, ConversationStatus.PARTIAL)
            return [self._notice(turn, NoticeKind.REFUSAL, "survey_expired")]
        if conversation.status != ConversationStatus.OPEN:
            return [self._notice(turn, NoticeKind.REFUSAL, "survey_closed")]
        return []

    async def _open_conversation(
        self, session: AsyncSession, now: datetime, who: Respondent
    ) -> tuple[Conversation | None, Conversation | None]:
        """The respondent's open survey, or else the one just closed as partial because it expired."""
        conversation = await queries.get_open_conversation(
            session, channel=who.channel, respondent_keys=self.respondent_keys(who)
        )
        if conversation is None or conversation.expires_at > now:
            return conversation, None
        self._close(conversation, now, ConversationStatus.PARTIAL)
        await session.flush()
        return None, conversation

    def _parse(
        self, turn: Turn, survey: Survey, question: Question, event: TextAnswer | ChoiceAnswer | EditText
    ) -> Parsed:
        if isinstance(event, ChoiceAnswer):
            return parse_button(question, event.value)
        labels = [survey.text(option.label, turn.language) for option in question.options]
        return parse_typed(question, event.text, labels)

    async def _store(
        self,
        turn: Turn,
        conversation: Conversation,
        survey: Survey,
        question: Question,
        parsed: Parsed,
        message_ref: str | None,
        sheet: Sheet,
    ) -> list[Prompt]:
        """Saves (or updates) the answer with its sentiment into `sheet`; returns a complaint prompt if one opens."""
        assert conversation.id is not None
        sentiment = self.analyzer.analyze(parsed.text, turn.language) if parsed.text else None
        answer = sheet.answers.get(question.id)
        earlier = None if answer is None else Parsed(answer.value, answer.choice, answer.text, answer.skipped)
        if answer is None:
            answer = Answer(
                conversation_id=conversation.id, question_id=question.id, kind=question.kind, answered_at=turn.now
            )
            turn.session.add(answer)
            sheet.answers[question.id] = answer
        answer.sqlmodel_update(
            {
                "value": parsed.value,
                "choice": parsed.choice,
                "text": parsed.text,
                "skipped": parsed.skipped,
                "polarity": sentiment.polarity if sentiment else None,
                "subjectivity": sentiment.subjectivity if sentiment else None,
                "sentiment_label": sentiment.label if sentiment else None,
                "updated_at": turn.now,
                # A message's address names its sender on some platforms: never kept for anonymous answers.
                "message_ref": None if conversation.anonymous else message_ref or answer.message_ref,
            }
        )
        reasons = self._complaint_reasons(survey, question, parsed, sentiment)
        if reasons or conversation.has_complaint:
            lowest = question.scale is not None and parsed.value == question.scale[0]
            news = None if parsed == earlier else _case_news(question, parsed, earlier)
            return await self._record_complaint(turn, conversation, reasons, sheet, lowest_score=lowest, news=news)
        return []

    @staticmethod
    def _complaint_reasons(
        survey: Survey, question: Question, parsed: Parsed, sentiment: Sentiment | None
    ) -> list[ComplaintReason]:
        """The score is the first signal; the text's sentiment adds to it."""
        reasons = []
        threshold = survey.complaint_threshold(question)
        if parsed.value is not None and threshold is not None and question.scale and parsed.value <= threshold:
            reasons.append(ComplaintReason.LOW_SCORE)
        if sentiment is not None and sentiment.complaint and sentiment.label != Label.UNKNOWN:
            reasons.append(ComplaintReason.NEGATIVE_TEXT)
        return reasons

    async def _record_complaint(
        self,
        turn: Turn,
        conversation: Conversation,
        reasons: list[ComplaintReason],
        sheet: Sheet,
        lowest_score: bool,
        news: str | None,
    ) -> list[Prompt]:
        """Opens the conversation's complaint, or adds new reasons; its words are always the current answers. An
        answer given after the staff were alerted (`news`) goes on the case's trail and to the staff."""
        assert conversation.id is not None
        complaint = sheet.complaint
        texts = [answer for answer in sheet.answers.values() if answer.text]
        words = "\n".join(answer.text for answer in texts if answer.text) or None
        polarity = min((answer.polarity for answer in texts if answer.polarity is not None), default=None)
        if complaint is not None:
            known = complaint.reasons.split(",")
            complaint.reasons = ",".join(known + [reason for reason in reasons if reason not in known])
            complaint.text, complaint.polarity = words, polarity
            complaint.category = complaint.category or suggest_category(words, self.desk.settings.categories)
            if news and not sheet.complaint_is_new:
                self.desk.changed(turn.session, complaint, turn.now, "customer", "answered", news)
            self.desk.reprioritise(turn.session, complaint, turn.now, lowest_score, alerted=not sheet.complaint_is_new)
            return []
        complaint = Complaint(
            conversation_id=conversation.id,
            person_id=conversation.person_id,
            channel=conversation.channel,
            survey_id=conversation.survey_id,
            reference=conversation.reference,
            reasons=",".join(reasons),
            text=words,
            polarity=polarity,
            created_at=turn.now,
        )
        conversation.has_complaint, sheet.complaint, sheet.complaint_is_new = True, complaint, True
        return [await self._open_complaint(turn, complaint, "complaint_opened", lowest_score)]

    async def _complain(self, turn: Turn, event: Complain) -> list[Prompt]:
        """An explicit complaint: stored at once with the person's own words."""
        text = event.text.strip()
        if not text:
            return [self._notice(turn, NoticeKind.HINT, "complaint_empty")]
        person = await queries.get_or_create_person(
            turn.session, channel=event.who.channel, platform_id=event.who.user_id, language=event.who.language
        )
        sentiment = self.analyzer.analyze(text, person.language or turn.language)
        complaint = Complaint(
            person_id=person.id,
            channel=event.who.channel,
            reasons=ComplaintReason.EXPLICIT,
            text=text,
            polarity=sentiment.polarity,
            created_at=turn.now,
        )
        return [
            await self._open_complaint(
                Turn(turn.session, turn.now, person.language or turn.language), complaint, "complaint_registered"
            )
        ]

    async def _open_complaint(
        self, turn: Turn, complaint: Complaint, message_key: str, lowest_score: bool = False
    ) -> ComplaintOpened:
        """Opens the case: triage, the audit trail's first line and the staff alerts, all in this transaction."""
        self.desk.triage(complaint, turn.now, lowest_score)
        turn.session.add(complaint)
        await turn.session.flush()
        assert complaint.id is not None
        self.desk.opened(turn.session, complaint, turn.now)
        return ComplaintOpened(
            complaint_id=complaint.id,
            reasons=complaint.reasons.split(","),
            text=translate(message_key, turn.language, number=complaint.id),
            anonymous=complaint.person_id is None,
        )

    async def _set_language(self, session: AsyncSession, now: datetime, event: SetLanguage) -> list[Prompt]:
        """Stores the chosen language; an open survey continues in it, at the same question."""
        language = base_language(event.language)
        person = await queries.get_or_create_person(
            session, channel=event.who.channel, platform_id=event.who.user_id, language=language
        )
        person.language = language
        turn = Turn(session, now, language)
        prompts: list[Prompt] = [self._notice(turn, NoticeKind.INFO, "language_set")]
        conversation, _ = await self._open_conversation(session, now, event.who)
        if conversation is not None:
            conversation.language = language
            survey = self.surveys[conversation.survey_id]
            question = survey.question(conversation.current_question or "")
            assert question is not None
            prompts.append(self._ask(turn, conversation, survey, question))
        return prompts

    async def _opt_out(self, session: AsyncSession, now: datetime, event: OptOut) -> list[Prompt]:
        """No more surveys: closes the open one as partial and remembers the choice until /start."""
        turn = await self._turn_for(session, now, event.who)
        person = await queries.get_or_create_person(
            session, channel=event.who.channel, platform_id=event.who.user_id, language=event.who.language
        )
        person.opted_out = True
        conversation, _ = await self._open_conversation(session, now, event.who)
        if conversation is not None:
            self._close(conversation, now, ConversationStatus.PARTIAL)
        return [self._notice(turn, NoticeKind.INFO, "opted_out")]

    async def _forget(self, session: AsyncSession, now: datetime, event: Forget) -> list[Prompt]:
        """Deletes the person's personal data; their scores stay, unlinked, in the aggregates."""
        turn = await self._turn_for(session, now, event.who)
        await queries.forget_respondent(
            session,
            channel=event.who.channel,
            platform_id=event.who.user_id,
            respondent_keys=self.respondent_keys(event.who),
        )
        return [self._notice(turn, NoticeKind.INFO, "forgotten")]

    async def _advance(
        self,
        turn: Turn,
        conversation: Conversation,
        survey: Survey,
        after: Question | None,
        answers: dict[str, Answer],
    ) -> list[Prompt]:
        """Moves to the next question whose condition holds, or completes the survey with its thank-you."""
        start = survey.questions.index(after) + 1 if after else 0
        return self._ask_first_that_applies(turn, conversation, survey, survey.questions[start:], _given(answers))

    def _ask_first_that_applies(
        self,
        turn: Turn,
        conversation: Conversation,
        survey: Survey,
        candidates: list[Question],
        given: Mapping[str, int | str | None],
    ) -> list[Prompt]:
        """Asks the first candidate whose condition holds, or completes the survey with its thank-you."""
        for question in candidates:
            if question.condition is None or question.condition.holds(given):
                conversation.current_question = question.id
                return [self._ask(turn, conversation, survey, question)]
        self._close(conversation, turn.now, ConversationStatus.COMPLETED)
        return [Notice(kind=NoticeKind.THANKS, text=survey.text(survey.thank_you, turn.language))]

    def _ask(self, turn: Turn, conversation: Conversation, survey: Survey, question: Question) -> QuestionPrompt:
        assert conversation.id is not None
        low_label, high_label = end_labels(survey, question, turn.language)
        return QuestionPrompt(
            conversation_id=conversation.id,
            question_id=question.id,
            kind=question.kind,
            text=survey.text(question.text, turn.language),
            options=_options(survey, question, turn.language),
            low_label=low_label,
            high_label=high_label,
            skip=Option(value=SKIP, label=translate("skip", turn.language)) if question.optional else None,
            anonymous=conversation.anonymous,
        )

    @staticmethod
    def _close(conversation: Conversation, now: datetime, status: ConversationStatus) -> None:
        """Closes the conversation; an anonymous one drops its respondent hash, leaving nothing to link."""
        if conversation.anonymous:
            conversation.respondent_key = f"closed-{conversation.id}"
        conversation.status = status
        conversation.closed_at = now
        conversation.updated_at = now
        conversation.current_question = None

    def _unknown_survey(self, turn: Turn, survey_id: str) -> Notice:
        return self._notice(turn, NoticeKind.REFUSAL, "survey_unknown", survey=survey_id, available=self._available)

    @staticmethod
    def _notice(turn: Turn, kind: NoticeKind, key: str, **params: object) -> Notice:
        return Notice(kind=kind, text=translate(key, turn.language, **params))


def _given(answers: Mapping[str, Answer]) -> dict[str, int | str | None]:
    """What conditions compare, per answered question."""
    return {question_id: _condition_value(answer) for question_id, answer in answers.items()}


def _condition_value(answer: Answer) -> int | str | None:
    parsed = Parsed(value=answer.value, choice=answer.choice, text=answer.text, skipped=answer.skipped)
    return condition_value(answer.kind, parsed)


def _options(survey: Survey, question: Question, language: str) -> list[Option]:
    if question.scale is not None:
        low, high = question.scale
        return [Option(value=str(step), label=str(step)) for step in range(low, high + 1)]
    if question.kind == QuestionKind.CHOICE:
        return [Option(value=option.id, label=survey.text(option.label, language)) for option in question.options]
    if question.kind == QuestionKind.YES_NO:
        return [Option(value=word, label=translate(word, language)) for word in ("yes", "no")]
    return []


def _case_news(question: Question, parsed: Parsed, earlier: Parsed | None) -> str | None:
    """A new or changed answer as its case's trail and the staff thread read it. The words stay out of it: they live
    only in the complaint (shown by the staff alert, updated in place), so that /forget can erase them."""
    if parsed.text:
        return "the customer changed their comment" if earlier and earlier.text else "the customer added a comment"
    shown = condition_value(question.kind, parsed)
    return None if shown is None else f"the customer answered {question.id}: {shown}"
