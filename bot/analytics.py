"""Figures for staff: CSAT per rated service, NPS, open cases; and what one person answered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bot.surveys import QuestionKind, Survey
from storage import queries, views
from storage.db import Database
from storage.views import OpenCases, RecentAnswer

SATISFIED_AT_LEAST = 4  # CSAT %: the share of 4s and 5s
PROMOTERS_FROM, DETRACTORS_UP_TO = 9, 6


def too_small(answers: list[tuple[int, bool]], min_group_size: int) -> bool:
    """A group with anonymous answers is shown only from `min_group_size` answers on, so none can be singled out."""
    return any(anonymous for _, anonymous in answers) and len(answers) < min_group_size


@dataclass(frozen=True, slots=True)
class GroupScore:
    """A figure for one group (a service), or hidden when too few answered an anonymous survey."""

    group: str
    answers: int
    percent: float | None  # None: hidden, the group is smaller than the minimum


def csat_percent(values: list[int]) -> float:
    return 100 * sum(value >= SATISFIED_AT_LEAST for value in values) / len(values)


def nps(values: list[int]) -> float:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to 100."""
    promoters = sum(value >= PROMOTERS_FROM for value in values)
    detractors = sum(value <= DETRACTORS_UP_TO for value in values)
    return 100 * (promoters - detractors) / len(values)


async def csat_by_group(database: Database, survey: Survey, min_group_size: int) -> list[GroupScore]:
    """CSAT % per option of the survey's first choice question (the service rated), smallest groups hidden."""
    group_question = next((q for q in survey.questions if q.kind == QuestionKind.CHOICE), None)
    score_question = next((q for q in survey.questions if q.kind == QuestionKind.CSAT), None)
    if group_question is None or score_question is None:
        return []
    async with database.snapshot() as session:
        pairs = await queries.paired_answers(
            session, survey_id=survey.id, group_question=group_question.id, score_question=score_question.id
        )
    groups: defaultdict[str, list[tuple[int, bool]]] = defaultdict(list)
    for group, value, anonymous in pairs:
        groups[group].append((value, anonymous))
    figures = []
    for option in group_question.options:
        answered = groups.get(option.id, [])
        hidden = not answered or too_small(answered, min_group_size)
        figures.append(GroupScore(option.id, len(answered), None if hidden else csat_percent([v for v, _ in answered])))
    return figures


async def nps_by_survey(database: Database, surveys: Iterable[Survey], min_group_size: int) -> list[GroupScore]:
    """The NPS of each survey with an NPS question; None until answered, or while too few answered anonymously."""
    figures = []
    async with database.snapshot() as session:
        for survey in surveys:
            question = next((q for q in survey.questions if q.kind == QuestionKind.NPS), None)
            if question is not None:
                answered = await queries.scores(session, survey_id=survey.id, question_id=question.id)
                hidden = not answered or too_small(answered, min_group_size)
                figures.append(GroupScore(survey.id, len(answered), None if hidden else nps([v for v, _ in answered])))
    return figures


async def open_cases(database: Database, limit: int = 10) -> OpenCases:
    """How many cases wait for staff, and the newest of them."""
    async with database.snapshot() as session:
        return await views.open_cases(session, limit=limit)


async def recent_answers_of(database: Database, channel: str, platform_id: str, limit: int = 10) -> list[RecentAnswer]:
    """A person's latest answers; anonymous ones are not linked to them, so never listed."""
    async with database.snapshot() as session:
        return await views.recent_answers(session, channel=channel, platform_id=platform_id, limit=limit)
