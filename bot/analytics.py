"""Figures for staff: CSAT per rated service, NPS, open cases; and what one person answered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.reports import csat_figures, nps_figures, too_small
from bot.surveys import QuestionKind, Survey
from storage import reports, views
from storage.db import Database
from storage.reports import Scope
from storage.views import OpenCases, RecentAnswer


@dataclass(frozen=True, slots=True)
class GroupScore:
    """A figure for one group (a service), or hidden when too few answered an anonymous survey."""

    group: str
    answers: int
    percent: float | None  # None: hidden, the group is smaller than the minimum


class _Scores(NamedTuple):
    distribution: dict[int, int]  # score -> answers
    anonymous: int


async def _scores_by_group(session: AsyncSession, scope: Scope, question_id: str) -> dict[str | None, _Scores]:
    """Each group's score distribution of one question, counted by the database."""
    groups: defaultdict[str | None, _Scores] = defaultdict(lambda: _Scores({}, 0))
    for row in await reports.score_counts(session, scope, question_id=question_id):
        distribution, anonymous = groups[row.group]
        groups[row.group] = _Scores({**distribution, row.value: row.answers}, anonymous + row.anonymous)
    return groups


def _shown(
    group: str, scores: _Scores, figure: Callable[[dict[int, int]], float | None], min_group_size: int
) -> GroupScore:
    answers = sum(scores.distribution.values())
    hidden = answers == 0 or too_small(answers, scores.anonymous, min_group_size)
    return GroupScore(group, answers, None if hidden else figure(scores.distribution))


async def csat_by_group(database: Database, survey: Survey, min_group_size: int) -> list[GroupScore]:
    """CSAT % per option of the survey's first choice question (the service rated), smallest groups hidden."""
    group_question = next((q for q in survey.questions if q.kind == QuestionKind.CHOICE), None)
    score_question = next((q for q in survey.questions if q.kind == QuestionKind.CSAT), None)
    if group_question is None or score_question is None:
        return []
    scope = Scope(survey.id, by="answer", group_question=group_question.id)
    async with database.snapshot() as session:
        groups = await _scores_by_group(session, scope, score_question.id)
    return [
        _shown(option.id, groups[option.id], lambda scores: csat_figures(scores).percent, min_group_size)
        for option in group_question.options
    ]


async def nps_by_survey(database: Database, surveys: Iterable[Survey], min_group_size: int) -> list[GroupScore]:
    """The NPS of each survey with an NPS question; None until answered, or while too few answered anonymously."""
    figures = []
    async with database.snapshot() as session:
        for survey in surveys:
            question = next((q for q in survey.questions if q.kind == QuestionKind.NPS), None)
            if question is not None:
                total = (await _scores_by_group(session, Scope(survey.id), question.id))[None]
                figures.append(_shown(survey.id, total, lambda scores: nps_figures(scores).score, min_group_size))
    return figures


async def open_cases(database: Database, limit: int = 10) -> OpenCases:
    """How many cases wait for staff, and the newest of them."""
    async with database.snapshot() as session:
        return await views.open_cases(session, limit=limit)


async def recent_answers_of(database: Database, channel: str, platform_id: str, limit: int = 10) -> list[RecentAnswer]:
    """A person's latest answers; anonymous ones are not linked to them, so never listed."""
    async with database.snapshot() as session:
        return await views.recent_answers(session, channel=channel, platform_id=platform_id, limit=limit)
