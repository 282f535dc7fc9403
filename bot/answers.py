"""Answers stored with their sentiment, and the complaint cases they open or add to."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.cases import CaseDesk, suggest_category
from bot.events import Complain
from bot.i18n import translate
from bot.prompts import ComplaintOpened, NoticeKind, Prompt, notice
from bot.sentiment import Analyzer, Label, Sentiment
from bot.survey_flow import Given, Parsed, condition_value
from bot.surveys import Question, Survey
from bot.turn import Turn
from storage import cases as stored_cases
from storage import queries
from storage.models import Answer, Complaint, ComplaintReason, Conversation


@dataclass(slots=True)
class Sheet:
    """A conversation's answers by question and its complaint, loaded with it in one statement and kept current."""

    answers: dict[str, Answer] = field(default_factory=dict)
    complaint: Complaint | None = None
    complaint_is_new: bool = False  # opened by this event: its staff alert is still to come, with every answer

    @classmethod
    def of(cls, loaded: queries.LoadedConversation) -> Sheet:
        return cls({answer.question_id: answer for answer in loaded.answers}, loaded.complaint)

    def given(self) -> Given:
        """What the survey's conditions compare, per answered question."""
        return {
            question_id: condition_value(answer.kind, _parsed(answer)) for question_id, answer in self.answers.items()
        }


class AnswerStore:
    """Saves answers with their sentiment and opens, or adds to, the complaint case they make."""

    def __init__(self, analyzer: Analyzer, desk: CaseDesk) -> None:
        self._analyzer = analyzer
        self._desk = desk

    async def store(
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
        sentiment = self._analyzer.analyze(parsed.text, turn.language) if parsed.text else None
        stored = sheet.answers.get(question.id)
        earlier = None if stored is None else _parsed(stored)
        # A message's address names its sender on some platforms: never kept for anonymous answers.
        kept_ref = None if conversation.anonymous else message_ref or (stored.message_ref if stored else None)
        sheet.answers[question.id] = await queries.save_answer(
            turn.session,
            stored,
            conversation_id=conversation.id,
            question_id=question.id,
            kind=question.kind,
            now=turn.now,
            fields={
                "value": parsed.value,
                "choice": parsed.choice,
                "text": parsed.text,
                "skipped": parsed.skipped,
                "polarity": sentiment.polarity if sentiment else None,
                "subjectivity": sentiment.subjectivity if sentiment else None,
                "sentiment_label": sentiment.label if sentiment else None,
                "updated_at": turn.now,
                "message_ref": kept_ref,
            },
        )
        reasons = complaint_reasons(survey, question, parsed, sentiment)
        if reasons or conversation.has_complaint:
            lowest = question.scale is not None and parsed.value == question.scale[0]
            news = None if parsed == earlier else case_news(question, parsed, earlier)
            return await self._record_complaint(turn, conversation, reasons, sheet, lowest_score=lowest, news=news)
        return []

    async def complain(self, turn: Turn, event: Complain) -> list[Prompt]:
        """An explicit complaint: stored at once with the person's own words."""
        text = event.text.strip()
        if not text:
            return [notice(NoticeKind.HINT, "complaint_empty", turn.language)]
        person = await queries.get_or_create_person(
            turn.session, channel=event.who.channel, platform_id=event.who.user_id, language=event.who.language
        )
        language = person.language or turn.language
        sentiment = self._analyzer.analyze(text, language)
        complaint = Complaint(
            person_id=person.id,
            channel=event.who.channel,
            reasons=ComplaintReason.EXPLICIT,
            text=text,
            polarity=sentiment.polarity,
            created_at=turn.now,
        )
        return [await self._open_complaint(replace(turn, language=language), complaint, "complaint_registered")]

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
            complaint.category = complaint.category or suggest_category(words, self._desk.settings.categories)
            await stored_cases.save_case_words(turn.session, complaint)
            if news and not sheet.complaint_is_new:
                await self._desk.changed(turn.session, complaint, turn.now, "customer", "answered", news)
            alerted = not sheet.complaint_is_new
            await self._desk.reprioritise(turn.session, complaint, turn.now, lowest_score, alerted=alerted)
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
        sheet.complaint, sheet.complaint_is_new = complaint, True
        opened = await self._open_complaint(turn, complaint, "complaint_opened", lowest_score)
        # Marked after the case's insert, which flushes the session: the conversation's changes of this event then
        # go in one update, at commit.
        conversation.has_complaint = True
        return [opened]

    async def _open_complaint(
        self, turn: Turn, complaint: Complaint, message_key: str, lowest_score: bool = False
    ) -> ComplaintOpened:
        """Opens the case: triage, the audit trail's first line and the staff alerts, all in this transaction."""
        self._desk.triage(complaint, turn.now, lowest_score)
        number = await stored_cases.add_case(turn.session, complaint)
        await self._desk.opened(turn.session, complaint, turn.now)
        return ComplaintOpened(
            complaint_id=number,
            reasons=complaint.reasons.split(","),
            text=translate(message_key, turn.language, number=number),
            anonymous=complaint.person_id is None,
        )


def complaint_reasons(
    survey: Survey, question: Question, parsed: Parsed, sentiment: Sentiment | None
) -> list[ComplaintReason]:
    """Why an answer is a complaint: the score is the first signal; the text's sentiment adds to it."""
    reasons = []
    threshold = survey.complaint_threshold(question)
    if parsed.value is not None and threshold is not None and question.scale and parsed.value <= threshold:
        reasons.append(ComplaintReason.LOW_SCORE)
    if sentiment is not None and sentiment.complaint and sentiment.label != Label.UNKNOWN:
        reasons.append(ComplaintReason.NEGATIVE_TEXT)
    return reasons


def case_news(question: Question, parsed: Parsed, earlier: Parsed | None) -> str | None:
    """A new or changed answer as its case's trail and the staff thread read it. The words stay out of it: they live
    only in the complaint (shown by the staff alert, updated in place), so that /forget can erase them."""
    if parsed.text:
        return "the customer changed their comment" if earlier and earlier.text else "the customer added a comment"
    shown = condition_value(question.kind, parsed)
    return None if shown is None else f"the customer answered {question.id}: {shown}"


def _parsed(answer: Answer) -> Parsed:
    return Parsed(value=answer.value, choice=answer.choice, text=answer.text, skipped=answer.skipped)
