"""Figures for staff: CSAT per service and NPS, with small anonymous groups hidden."""

from __future__ import annotations

from bot import analytics
from bot.engine import Engine
from bot.events import SubmitSurvey
from bot.surveys import Survey
from storage.db import Database
from tests.bot.customer import Customer


async def answer_nps(engine: Engine, scores: list[int]) -> None:
    for number, score in enumerate(scores):
        customer = Customer(engine, user_id=f"customer-{number}")
        await customer.start("nps")
        await customer.say(str(score))


async def test_nps_is_promoters_minus_detractors(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await answer_nps(engine, [10, 9, 8, 6])
    [score] = await analytics.nps_by_survey(database, [surveys["nps"]], min_group_size=5)
    assert (score.group, score.answers, score.percent) == ("nps", 4, 25.0)  # 2 promoters, 1 detractor of 4


async def test_a_small_anonymous_group_is_hidden_and_shown_from_the_minimum_on(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    survey = surveys["internal-service"]
    for number in range(5):
        who = Customer(engine, user_id=f"employee-{number}").who
        answers = {"service": "hr", "quality": "5" if number < 3 else "2", "speed": "3"}
        await engine.handle(SubmitSurvey(who, f"form-{number}", survey.id, answers, anonymous=number != 4))
        figures = {score.group: score for score in await analytics.csat_by_group(database, survey, 5)}
        expected = None if number < 4 else 60.0
        assert (figures["hr"].answers, figures["hr"].percent) == (number + 1, expected)
    assert figures["finance"].percent is None and figures["finance"].answers == 0


async def test_named_answers_are_shown_however_few(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    who = Customer(engine, user_id="employee").who
    answers = {"service": "finance", "quality": "4", "speed": "3"}
    await engine.handle(SubmitSurvey(who, "form", "internal-service", answers, anonymous=False))
    figures = {score.group: score for score in await analytics.csat_by_group(database, surveys["internal-service"], 5)}
    assert figures["finance"].percent == 100.0
