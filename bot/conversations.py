"""Surveys being taken: opening, answering, resuming and closing conversations in the database, following the
survey flow (bot/survey_flow.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.answers import AnswerStore, Sheet
from bot.customer_replies import CaseReplies
from bot.events import ChoiceAnswer, EditText, Respondent, StartSurvey, SubmitSurvey, TextAnswer
from bot.i18n import base_language, translate
from bot.people import People, PrivacyKeys
from bot.prompts import Notice, NoticeKind, Prompt, QuestionPrompt, notice
from bot.survey_flow import (
    Invalid,
    Parsed,
    applies,
    first_unanswered,
    next_question,
    parse_button,
    parse_form_value,
    parse_text,
    question_prompt,
    thanks,
)
from bot.surveys import Question, Survey, SurveyCatalogue
from bot.turn import Turn
from bot.webhooks import Webhooks
from storage import invitations, links, queries
from storage.db import Database
from storage.models import Conversation, ConversationStatus, Person
from storage.types import utcnow

REFERENCE_LIMIT = 128  # an order or ticket number; a longer one is cut, not refused
MAX_ROW_ID = 2**31 - 1  # the largest id of a conversation (PostgreSQL's integer); button data may claim any
Answering = TextAnswer | ChoiceAnswer | EditText


class Conversations:
    """Takes people through surveys; all state lives in the database. The methods taking a session work inside the
    transaction of the event being applied."""

    def __init__(
        self,
        *,
        database: Database,
        catalogue: SurveyCatalogue,
        keys: PrivacyKeys,
        people: People,
        answers: AnswerStore,
        case_replies: CaseReplies,
        webhooks: Webhooks,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._catalogue = catalogue
        self._keys = keys
        self._people = people
        self._answers = answers
        self._case_replies = case_replies
        self._webhooks = webhooks
        self._clock = clock

    async def open_survey_of(self, who: Respondent) -> Survey | None:
        """The survey the person has open on this channel, anonymous ones included."""
        async with self._database.snapshot() as session:
            conversation = await self._open_or_expired(session, who)
        if conversation is None or conversation.expires_at <= self._clock():
            return None
        return self._catalogue.get(conversation.survey_id)

    async def open_question(self, who: Respondent) -> QuestionPrompt | None:
        """The question the person's open survey waits on, to ask again (after /help, say)."""
        async with self._database.snapshot() as session:
            conversation = await self._open_or_expired(session, who)
        if conversation is None or conversation.expires_at <= self._clock():
            return None
        return self._ask_again(conversation)

    async def expire_overdue(self) -> int:
        """Closes every open survey past its expiry as partial, keeping its answers."""
        async with self._database.transaction() as session:
            return await queries.close_expired_conversations(session, now=self._clock())

    async def start(self, session: AsyncSession, now: datetime, event: StartSurvey) -> list[Prompt]:
        """Opens the survey at its first question, or resumes it when it is already open."""
        survey = self._catalogue.find(event.survey_id)
        if survey is None:
            return [self._unknown_survey(base_language(event.who.language), event.survey_id)]
        anonymous = _is_anonymous(survey, event.anonymous)
        person = await self._people.welcome_back(session, event.who, enrol=not anonymous)
        prompts: list[Prompt] = []
        open_conversation = await self._open_conversation(session, now, event.who)
        if open_conversation is not None:
            language = open_conversation.language
            if (open_conversation.survey_id, open_conversation.reference) == (survey.id, event.reference):
                await self._tie_invitation(session, event, open_conversation)
                return [notice(NoticeKind.INFO, "survey_resumed", language), self._ask_again(open_conversation)]
            await queries.free_survey_slot(session, open_conversation, now=now)
            prompts.append(notice(NoticeKind.INFO, "survey_replaced", language))
        first = next_question(survey, None, {})
        conversation = await self._create(
            session,
            now,
            event.who,
            survey,
            None if anonymous else person,
            reference=event.reference,
            current_question=first.id if first else None,
        )
        await self._tie_invitation(session, event, conversation)
        if event.link_id is not None:
            token = secrets.token_urlsafe(24)
            await links.record_link_use(
                session, link_id=event.link_id, conversation=conversation, invitation_token=token, now=now
            )
        if survey.intro:
            prompts.append(Notice(kind=NoticeKind.INFO, text=survey.text(survey.intro, conversation.language)))
        turn = Turn(session, now, conversation.language)
        prompts += self._go_on(turn, conversation, survey, first, Sheet())
        if first is None:  # none of the survey's questions applies: it was completed at once
            await queries.save_progress(session, conversation)
        return prompts

    @staticmethod
    async def _tie_invitation(session: AsyncSession, event: StartSurvey, conversation: Conversation) -> None:
        """Ties the invitation that opened the survey to it, in the transaction that opens it."""
        if event.invitation_id is not None:
            await invitations.link_conversation(session, invitation_id=event.invitation_id, conversation=conversation)

    async def submit(self, session: AsyncSession, now: datetime, event: SubmitSurvey) -> list[Prompt]:
        """Stores a whole form at once as a completed survey; a bad answer stores nothing and names the question."""
        survey = self._catalogue.find(event.survey_id)
        language = base_language(event.who.language)
        if survey is None:
            return [self._unknown_survey(language, event.survey_id)]
        parsed: dict[str, Parsed] = {}
        for question in survey.questions:
            try:
                parsed[question.id] = parse_form_value(question, (event.answers.get(question.id) or "").strip())
            except Invalid as invalid:
                hint = translate(invalid.key, language, **invalid.params)
                text = f"{survey.text(question.text, language)} {hint}"
                return [Notice(kind=NoticeKind.HINT, text=text, question_id=question.id)]
        anonymous = _is_anonymous(survey, event.anonymous)
        person = None if anonymous else await self._people.enrol(session, event.who)
        conversation = await self._create(
            session, now, event.who, survey, person, reference=None, status=ConversationStatus.COMPLETED
        )
        turn = Turn(session, now, conversation.language)
        queries.close_conversation(conversation, now=now, status=ConversationStatus.COMPLETED)
        prompts: list[Prompt] = []
        sheet = Sheet()
        for question in survey.questions:
            prompts += await self._answers.store(turn, conversation, survey, question, parsed[question.id], None, sheet)
        self._completed(turn, conversation, survey, sheet)
        await queries.save_progress(session, conversation)
        return [*prompts, thanks(survey, turn.language)]

    async def answer(self, session: AsyncSession, now: datetime, event: Answering) -> list[Prompt]:
        """Stores a valid answer and moves on; an invalid one gets a hint and the question again."""
        target = await self._target_of(session, now, event)
        if isinstance(target, list):
            return target
        conversation, sheet, question_id = target
        survey = self._catalogue[conversation.survey_id]
        turn = Turn(session, now, conversation.language)
        question = survey.question(question_id or "")
        if question is None:
            return [notice(NoticeKind.REFUSAL, "button_invalid", turn.language)]
        earlier = question.id != conversation.current_question
        if earlier and question.id not in sheet.answers:
            return [notice(NoticeKind.REFUSAL, "button_invalid", turn.language)]  # a question not reached yet
        try:
            parsed = self._parse(survey, question, event, turn.language)
        except Invalid as invalid:
            kind = NoticeKind.REFUSAL if invalid.key == "button_invalid" else NoticeKind.HINT
            hint = notice(kind, invalid.key, turn.language, **invalid.params)
            return [hint] if earlier else [hint, _ask(conversation, survey, question, turn.language)]
        message_ref = event.message_ref if isinstance(event, TextAnswer) else None
        prompts = await self._answers.store(turn, conversation, survey, question, parsed, message_ref, sheet)
        conversation.updated_at = now
        if earlier:
            updated = notice(NoticeKind.INFO, "answer_updated", turn.language)
            prompts = [updated, *prompts, *self._reconsider(turn, conversation, survey, sheet)]
        else:
            prompts += self._go_on(turn, conversation, survey, next_question(survey, question, sheet.given()), sheet)
        await queries.save_progress(session, conversation)
        return prompts

    async def continue_in(self, session: AsyncSession, now: datetime, who: Respondent, language: str) -> list[Prompt]:
        """The person's open survey goes on in `language`, at the same question, asked again."""
        conversation = await self._open_conversation(session, now, who)
        if conversation is None:
            return []
        conversation.language = language
        return [self._ask_again(conversation)]

    async def _open_conversation(self, session: AsyncSession, now: datetime, who: Respondent) -> Conversation | None:
        """The person's open survey; one past its expiry is closed as partial instead."""
        conversation = await self._open_or_expired(session, who)
        if conversation is None or conversation.expires_at > now:
            return conversation
        await queries.free_survey_slot(session, conversation, now=now)
        return None

    async def close_open(self, session: AsyncSession, now: datetime, who: Respondent) -> None:
        """Closes the person's open survey as partial, keeping its answers."""
        conversation = await self._open_conversation(session, now, who)
        if conversation is not None:
            queries.close_conversation(conversation, now=now, status=ConversationStatus.PARTIAL)

    async def _open_or_expired(self, session: AsyncSession, who: Respondent) -> Conversation | None:
        return await queries.get_open_conversation(
            session, channel=who.channel, respondent_keys=self._keys.respondent_keys(who)
        )

    async def _create(
        self,
        session: AsyncSession,
        now: datetime,
        who: Respondent,
        survey: Survey,
        person: Person | None,
        *,
        reference: str | None,
        status: ConversationStatus = ConversationStatus.OPEN,
        current_question: str | None = None,
    ) -> Conversation:
        """A new conversation of `person`; None: an anonymous one, linked to no person. It is inserted at once, with
        the question it stands at, so that its buttons can name it."""
        conversation = Conversation(
            survey_id=survey.id,
            channel=who.channel,
            respondent_key=self._keys.respondent_key(who, person is None),
            person_id=person.id if person else None,
            language=base_language((person.language if person else None) or who.language or survey.fallback_language),
            reference=reference[:REFERENCE_LIMIT] if reference else None,
            anonymous=person is None,
            status=status,
            current_question=current_question,
            started_at=now,
            updated_at=now,
            expires_at=now + timedelta(hours=survey.expiry_hours),
        )
        return await queries.add_conversation(session, conversation)

    def _reconsider(self, turn: Turn, conversation: Conversation, survey: Survey, sheet: Sheet) -> list[Prompt]:
        """After an earlier answer changed, the open question may no longer apply ("What went wrong?" once the score
        went up): then the first unanswered question that applies is asked instead."""
        current = survey.question(conversation.current_question or "")
        given = sheet.given()
        if conversation.status != ConversationStatus.OPEN or current is None or applies(current, given):
            return []
        return self._go_on(turn, conversation, survey, first_unanswered(survey, given), sheet)

    async def _target_of(
        self, session: AsyncSession, now: datetime, event: Answering
    ) -> tuple[Conversation, Sheet, str | None] | list[Prompt]:
        """The conversation (with its sheet) and question the event answers, or the notices explaining why there is
        none. The conversation, its answers and its complaint come in one statement: this runs for every answer."""
        language = base_language(event.who.language)
        match event:
            case TextAnswer():
                loaded = await queries.load_open_conversation(
                    session, channel=event.who.channel, respondent_keys=self._keys.respondent_keys(event.who)
                )
                if loaded is not None and loaded.conversation.expires_at > now:
                    return loaded.conversation, Sheet.of(loaded), loaded.conversation.current_question
                if loaded is not None:
                    expired = loaded.conversation
                    queries.close_conversation(expired, now=now, status=ConversationStatus.PARTIAL)
                    await queries.save_progress(session, expired)
                    return [notice(NoticeKind.REFUSAL, "survey_expired", expired.language)]
                if await self._case_replies.forward(session, now, event.who, event.text):
                    language = await self._people.language_in(session, event.who)
                    return [notice(NoticeKind.INFO, "reply_forwarded", language)]
                return [notice(NoticeKind.INFO, "no_open_survey", language, available=self._catalogue.available)]
            case ChoiceAnswer():
                forged = not 0 < event.conversation_id <= MAX_ROW_ID  # no query for an id no row can have
                loaded = (
                    None if forged else await queries.load_conversation(session, conversation_id=event.conversation_id)
                )
                if loaded is None or loaded.conversation.respondent_key not in self._keys.respondent_keys(event.who):
                    return [notice(NoticeKind.REFUSAL, "button_invalid", language)]  # forged or someone else's
                return await _refusal_when_closed(session, loaded.conversation, now) or (
                    loaded.conversation,
                    Sheet.of(loaded),
                    event.question_id,
                )
            case EditText():
                answered = await queries.find_answer_by_message(
                    session, message_ref=event.message_ref, respondent_keys=self._keys.respondent_keys(event.who)
                )
                if answered is None:
                    return []  # the edited message was not an answer
                answer, found = answered
                if found.expires_at <= now:  # until then even a finished survey takes corrections of typed answers
                    return [notice(NoticeKind.REFUSAL, "survey_closed", found.language)]
                assert found.id is not None
                loaded = await queries.load_conversation(session, conversation_id=found.id)
                assert loaded is not None  # found in this transaction
                return found, Sheet.of(loaded), answer.question_id

    @staticmethod
    def _parse(survey: Survey, question: Question, event: Answering, language: str) -> Parsed:
        if isinstance(event, ChoiceAnswer):
            return parse_button(question, event.value)
        return parse_text(survey, question, event.text, language)

    def _go_on(
        self, turn: Turn, conversation: Conversation, survey: Survey, question: Question | None, sheet: Sheet
    ) -> list[Prompt]:
        """Asks `question`, or with none left completes the survey with its thank-you."""
        if question is None:
            queries.close_conversation(conversation, now=turn.now, status=ConversationStatus.COMPLETED)
            self._completed(turn, conversation, survey, sheet)
            return [thanks(survey, turn.language)]
        if conversation.current_question != question.id:  # a new conversation stands at it already: nothing to write
            conversation.current_question = question.id
        return [_ask(conversation, survey, question, turn.language)]

    def _completed(self, turn: Turn, conversation: Conversation, survey: Survey, sheet: Sheet) -> None:
        """Tells the webhooks of the survey just completed, in the transaction that completes it."""
        answers = [sheet.answers[question.id] for question in survey.questions if question.id in sheet.answers]
        self._webhooks.response_completed(turn.session, turn.now, conversation, answers, sheet.complaint)

    def _ask_again(self, conversation: Conversation) -> QuestionPrompt:
        """The question an open conversation stands at, in the conversation's language."""
        survey = self._catalogue[conversation.survey_id]
        question = survey.question(conversation.current_question or "")
        assert question is not None  # an open conversation always stands at a question
        return _ask(conversation, survey, question, conversation.language)

    def _unknown_survey(self, language: str, survey_id: str) -> Notice:
        available = self._catalogue.available
        return notice(NoticeKind.REFUSAL, "survey_unknown", language, survey=survey_id, available=available)


def _ask(conversation: Conversation, survey: Survey, question: Question, language: str) -> QuestionPrompt:
    assert conversation.id is not None
    return question_prompt(
        survey, question, language, conversation_id=conversation.id, anonymous=conversation.anonymous
    )


def _is_anonymous(survey: Survey, asked: bool | None) -> bool:
    """Whether a new conversation is anonymous: as the event asks, else (None) as the survey says."""
    return survey.anonymous if asked is None else asked


async def _refusal_when_closed(session: AsyncSession, conversation: Conversation, now: datetime) -> list[Prompt]:
    """Nothing when the conversation takes answers; else the refusal (closing it first if it just expired)."""
    if conversation.status == ConversationStatus.OPEN and conversation.expires_at <= now:
        queries.close_conversation(conversation, now=now, status=ConversationStatus.PARTIAL)
        await queries.save_progress(session, conversation)
        return [notice(NoticeKind.REFUSAL, "survey_expired", conversation.language)]
    if conversation.status != ConversationStatus.OPEN:
        return [notice(NoticeKind.REFUSAL, "survey_closed", conversation.language)]
    return []
