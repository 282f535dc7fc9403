"""The response funnel: invitations delivered, started and completed (the response rate), and per question how many
reached it and how many answered it (the drop-off)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bot.report_stats import Interval, wilson
from bot.survey_flow import Parsed, condition_value, next_question
from bot.surveys import Survey
from storage.reports import Funnel, QuestionCounts, Stopped


@dataclass(frozen=True, slots=True)
class Invitations:
    invitations: int
    skipped: int
    failed: int
    delivered: int
    started: int | None  # None for an anonymous survey: its conversations are not tied to their invitations
    completed: int | None
    response_percent: float | None  # completed / delivered
    interval: Interval | None


def invitation_figures(funnel: Funnel, *, anonymous: bool) -> Invitations:
    """The funnel of the invitations; of an anonymous survey, only up to their delivery."""
    counts = (funnel.invitations, funnel.skipped, funnel.failed, funnel.delivered)
    if anonymous:
        return Invitations(*counts, None, None, None, None)
    response = 100 * funnel.completed / funnel.delivered if funnel.delivered else None
    return Invitations(*counts, funnel.started, funnel.completed, response, wilson(funnel.completed, funnel.delivered))


@dataclass(frozen=True, slots=True)
class QuestionReach:
    question: str
    reached: int  # asked it: answered, skipped, waiting at it or left there
    answered: int
    skipped: int
    left: int  # closed without answering it, or still waiting at it
    answered_percent: float | None  # of those who reached it


def question_reach(survey: Survey, counts: Iterable[QuestionCounts], stops: Iterable[Stopped]) -> list[QuestionReach]:
    """Each question in the survey's order. A closed conversation keeps no current question: where it stopped is
    the question the flow asks after its last answer, read with that answer alone (a condition on an earlier
    answer is then taken as not holding)."""
    left = _left_at(survey, stops)
    answered = {row.question: row for row in counts}
    reach = []
    for question in survey.questions:
        row = answered.get(question.id, QuestionCounts(question.id, 0, 0))
        reached = row.answered + row.skipped + left[question.id]
        share = 100 * row.answered / reached if reached else None
        reach.append(QuestionReach(question.id, reached, row.answered, row.skipped, left[question.id], share))
    return reach


def _left_at(survey: Survey, stops: Iterable[Stopped]) -> Counter[str]:
    left: Counter[str] = Counter()
    questions = {question.id: question for question in survey.questions}
    for stop in stops:
        if stop.waiting_at is not None:
            left[stop.waiting_at] += stop.conversations
            continue
        last = questions.get(stop.last_question or "")
        given = {} if last is None else {last.id: condition_value(last.kind, _last_answer(stop))}
        asked = next_question(survey, last, given) if last is not None or stop.last_question is None else None
        if asked is not None:
            left[asked.id] += stop.conversations
    return left


def _last_answer(stop: Stopped) -> Parsed:
    return Parsed(value=stop.last_value, choice=stop.last_choice, skipped=bool(stop.last_skipped))
