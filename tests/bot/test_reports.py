"""The report's figures against hand-computed ones, on both databases: CSAT, NPS, CES, sentiment, cases, root
causes; periods and real changes; small anonymous groups hidden, also when subtraction would give them away."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.events import SubmitSurvey
from bot.report_html import report_html, survey_figures
from bot.report_output import report_json
from bot.report_stats import Interval
from bot.reports import Breakdown, Report, build_report
from bot.surveys import Survey
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock

RUDE = "The courier was rude and the parcel late"  # scored negative


async def report(
    database: Database, survey: Survey, by: Breakdown | None = None, min_group_size: int = 5, **period: object
) -> Report:
    return await build_report(
        database,
        [survey],
        since=period.get("since"),  # type: ignore[arg-type]
        until=period.get("until"),  # type: ignore[arg-type]
        by=by,
        min_group_size=min_group_size,
    )


async def answer_csat(engine: Engine, user: str, channel: str, score: int, words: str | None) -> None:
    customer = Customer(engine, user_id=user, channel=channel)
    await customer.start("csat")
    await customer.say(str(score))
    await customer.say(words or "skip")


def rounded(interval: Interval | None) -> tuple[float, float] | None:
    return None if interval is None else (round(interval.low, 2), round(interval.high, 2))


async def test_csat_sentiment_cases_and_root_causes_of_a_survey_by_channel(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    await answer_csat(engine, "ann", "telegram", 5, None)
    await answer_csat(engine, "bob", "telegram", 4, None)
    await answer_csat(engine, "cat", "telegram", 1, RUDE)
    await answer_csat(engine, "dan", "slack", 2, RUDE)
    cases = Cases(database, CaseDesk(), clock)
    clock.advance(hours=2)
    await cases.acknowledge(1, "staff")
    clock.advance(hours=2)
    await cases.acknowledge(2, "staff")
    clock.advance(hours=2)
    await cases.resolve(1, "staff", corrective_action="Retrained the courier", root_cause="people", message=None)

    built = await report(database, surveys["csat"], Breakdown.CHANNEL, min_group_size=1)

    [survey] = built.surveys
    total = survey.total
    assert (total.group, total.respondents, total.completed, total.hidden) == ("all", 4, 4, None)
    assert total.csat is not None and total.sentiment is not None and total.cases is not None
    assert (total.csat.answers, total.csat.percent, total.csat.mean) == (4, 50.0, 3.0)
    assert total.csat.distribution == {1: 1, 2: 1, 3: 0, 4: 1, 5: 1}
    assert rounded(total.csat.interval) == (15.0, 85.0)  # Wilson, 2 of 4
    assert total.nps is None and total.ces is None  # the survey asks neither
    assert (total.sentiment.comments, total.sentiment.negative, total.sentiment.negative_percent) == (2, 2, 100.0)
    assert rounded(total.sentiment.interval) == (34.24, 100.0)  # Wilson, 2 of 2
    # hours to acknowledge: 2 and 4 (90th percentile: 2 + 0.9 * 2); to resolve: 6; 2 cases of 4 completed surveys
    figures = total.cases
    assert (figures.count, figures.acknowledged, figures.resolved, figures.per_completed_percent) == (2, 2, 1, 50.0)
    hours = (figures.median_hours_to_acknowledge, figures.median_hours_to_resolve, figures.p90_hours_to_acknowledge)
    assert (*hours, figures.p90_hours_to_resolve) == pytest.approx((3.0, 6.0, 3.8, 6.0))
    assert [(row.root_cause, row.cases, row.cumulative_percent) for row in survey.root_causes] == [("people", 1, 100.0)]
    groups = {group.group: group for group in survey.groups}
    assert list(groups) == ["slack", "telegram"]
    slack, telegram = groups["slack"], groups["telegram"]
    assert slack.csat is not None and telegram.csat is not None
    assert (slack.respondents, slack.csat.percent, telegram.csat.percent) == (1, 0.0, 200 / 3)
    assert telegram.cases is not None and (telegram.cases.count, telegram.cases.median_hours_to_acknowledge) == (1, 2.0)


async def answer_nps(engine: Engine, scores: list[int]) -> None:
    for number, score in enumerate(scores):
        customer = Customer(engine, user_id=f"customer-{number}")
        await customer.start("nps")
        await customer.say(str(score))


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], None),
        ([7, 8, 8], (0.0, (0.0, 0.0), 0, 3, 0)),  # all passives: no spread either
        ([10], (100.0, (100.0, 100.0), 1, 0, 0)),  # one answer
        # p+ = .5, p- = .25, Var = (.75 - .0625) / 4, 1.96 * sqrt(Var) = 0.8126; capped at 100
        ([10, 9, 8, 6], (25.0, (-56.26, 100.0), 2, 1, 1)),
    ],
    ids=["no answers", "all passives", "one answer", "mixed"],
)
async def test_nps_with_its_counts_and_interval(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    scores: list[int],
    expected: tuple[float, tuple[float, float], int, int, int] | None,
) -> None:
    await answer_nps(engine, scores)
    [survey] = (await report(database, surveys["nps"])).surveys
    nps = survey.total.nps
    shown = None if nps is None else (nps.score, rounded(nps.interval), nps.promoters, nps.passives, nps.detractors)
    assert shown == expected
    assert survey.total.respondents == len(scores)


async def test_ces_mean_and_distribution(engine: Engine, database: Database, surveys: dict[str, Survey]) -> None:
    for number, effort in enumerate([7, 6, 2]):
        customer = Customer(engine, user_id=f"customer-{number}")
        await customer.start("ces")
        await customer.say(str(effort))
    [survey] = (await report(database, surveys["ces"])).surveys
    assert survey.total.ces is not None
    assert (survey.total.ces.answers, survey.total.ces.mean) == (3, 5.0)
    assert survey.total.ces.distribution == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1}


async def test_weeks_and_a_change_called_out_only_when_the_intervals_part(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    for number in range(10):  # Thursday 2026-11-26: the week of Monday 2026-11-23
        await answer_csat(engine, f"early-{number}", "test", 5, None)
    await answer_csat(engine, "one-unhappy", "test", 3, None)
    clock.advance(days=7)
    for number in range(10):
        await answer_csat(engine, f"late-{number}", "test", 3, None)
    clock.advance(days=7)
    await answer_csat(engine, "last", "test", 4, None)

    built = await report(database, surveys["csat"], Breakdown.WEEK)

    weeks = [(g.group, g.respondents, g.csat.percent if g.csat else None, g.changes) for g in built.surveys[0].groups]
    assert weeks == [
        ("2026-11-23", 11, pytest.approx(1000 / 11), {}),
        ("2026-11-30", 10, 0.0, {"csat": "down"}),  # Wilson: 67.2-98.5 % then 0-27.8 %
        ("2026-12-07", 1, 100.0, {}),  # 20.7-100 % overlaps: one answer says nothing
    ]
    since = clock.now.replace(day=1)  # 2026-12-01, and to the 10th
    months = await report(database, surveys["csat"], Breakdown.MONTH, since=since, until=clock.now.replace(day=10))
    assert [(g.group, g.respondents) for g in months.surveys[0].groups] == [
        ("2026-12", 10)
    ]  # the last answer is at `until`
    days = await report(database, surveys["csat"], Breakdown.DAY)
    assert [(g.group, g.respondents) for g in days.surveys[0].groups] == [
        ("2026-11-26", 11),
        ("2026-12-03", 10),
        ("2026-12-10", 1),
    ]


async def rate_services(engine: Engine, sizes: dict[str, int], anonymous: bool = True) -> None:
    for service, size in sizes.items():
        for number in range(size):
            who = Customer(engine, user_id=f"{service}-{number}").who
            answers = {"service": service, "quality": "5", "speed": "3"}
            event = SubmitSurvey(who, f"form-{service}-{number}", "internal-service", answers, anonymous=anonymous)
            await engine.handle(event)


async def test_a_small_anonymous_group_is_hidden_and_so_is_the_one_that_would_give_it_away(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await rate_services(engine, {"hr": 7, "finance": 2, "it-helpdesk": 5, "facilities": 6})

    [survey] = (await report(database, surveys["internal-service"], Breakdown.SERVICE)).surveys

    shown = {g.group: (g.respondents, g.hidden, g.csat.answers if g.csat else None) for g in survey.groups}
    assert shown == {
        "facilities": (6, None, 6),
        "finance": (2, "too few anonymous answers", None),
        "hr": (7, None, 7),
        # the smallest group shown: the total (20) minus the three others would be finance's 2 answers
        "it-helpdesk": (5, "would reveal a hidden group by subtraction", None),
    }
    assert survey.total.csat is not None and survey.total.csat.answers == 20
    visible = sum(g.csat.answers for g in survey.groups if g.csat)
    assert survey.total.csat.answers - visible >= 5  # what subtraction gives: no group below the minimum


async def test_a_survey_too_small_in_total_is_hidden_with_its_root_causes(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await rate_services(engine, {"hr": 3})
    [survey] = (await report(database, surveys["internal-service"], Breakdown.SERVICE)).surveys
    assert (survey.total.respondents, survey.total.hidden, survey.total.csat) == (3, "too few anonymous answers", None)
    assert [g.hidden for g in survey.groups] == ["too few anonymous answers"]
    assert survey.root_causes == []


async def test_named_answers_are_shown_however_few(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await rate_services(engine, {"hr": 5, "finance": 1}, anonymous=False)
    [survey] = (await report(database, surveys["internal-service"], Breakdown.SERVICE)).surveys
    assert [(g.group, g.hidden) for g in survey.groups] == [("finance", None), ("hr", None)]


class Cells(HTMLParser):
    """The text of every table cell of a page, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append("")

    def handle_data(self, data: str) -> None:
        if self.rows and self.rows[-1] and self.lasttag == "td":
            self.rows[-1][-1] += data


async def test_the_html_report_shows_the_numbers_of_the_json_report_and_loads_nothing(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    await answer_csat(engine, "ann", "test", 5, None)
    await answer_csat(engine, "bob", "test", 2, RUDE)
    await Cases(database, CaseDesk(), clock).resolve(
        1, "staff", corrective_action="Retrained the courier", root_cause="people", message=None
    )
    clock.advance(days=7)
    await answer_csat(engine, "cat", "test", 4, None)
    built = await report(database, surveys["csat"], Breakdown.WEEK)

    page, document = report_html(built), json.loads(report_json(built))

    parser = Cells()
    parser.feed(page)
    [survey] = document["surveys"]
    expected = [
        [
            group["group"],
            str(group["respondents"]),
            f"{group['csat']['percent']:.1f} ({group['csat']['interval'][0]:.1f}-{group['csat']['interval'][1]:.1f})",
        ]
        for group in [survey["total"], *survey["groups"]]
    ]
    assert [row[:3] for row in parser.rows if row][: len(expected)] == expected  # the header row has no td
    charts = survey_figures(built.surveys[0])
    assert list(charts[0].data[0].y) == [group["csat"]["percent"] for group in survey["groups"]]
    assert [chart.layout.title.text for chart in charts] == [
        "CSAT % (95 % interval)",
        "CSAT scores (all)",
        "Sentiment of the comments (polarity)",
        "Root causes (Pareto)",
        "Top phrases of negative comments",
    ]
    assert list(charts[1].data[0].y) == list(survey["total"]["csat"]["distribution"].values())
    assert list(charts[3].data[0].y) == [row["cases"] for row in survey["root_causes"]]
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # plotly.js is inline: opens offline
