"""The report's response funnel, drop-off, grouping by invitation attribute, cases from their trail, sentiment
histogram, themes, contradictions and the previous period, against hand-computed figures on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlmodel import select

from bot.cases import CaseDesk, Cases
from bot.engine import Engine
from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.outbound import SurveyInvitation
from bot.report_html import FUNNEL_STEPS, report_html, survey_figures
from bot.report_output import report_json
from bot.report_stats import Interval
from bot.reports import Breakdown, Report, breakdown_of, build_report
from bot.surveys import Survey
from storage import invitations as stored_invitations
from storage.db import Database
from storage.models import Invitation, InvitationState
from tests.bot.customer import Customer
from tests.conftest import Clock

RUDE = "The courier was rude and the parcel late"  # negative, category "delivery"
PRAISE = "Lovely, friendly and helpful people"  # positive


async def report(
    database: Database, survey: Survey, by: str | None = None, min_group_size: int = 1, **period: object
) -> Report:
    return await build_report(
        database,
        [survey],
        since=period.get("since"),  # type: ignore[arg-type]
        until=period.get("until"),  # type: ignore[arg-type]
        by=by,
        min_group_size=min_group_size,
    )


def rounded(interval: Interval | None) -> tuple[float, float] | None:
    return None if interval is None else (round(interval.low, 2), round(interval.high, 2))


async def invite(
    invitations: Invitations, database: Database, clock: Clock, user: str, region: str, sent: bool, survey: str = "csat"
) -> None:
    """An invitation to `survey` on Slack; its survey opened when `sent`, else its message refused."""
    request = InvitationRequest(survey, ToPlatformUser("slack", user), None, {"region": region})
    invited = (await invitations.invite(request, api_key="crm", idempotency_key=None)).invitation
    if sent:
        await invitations.opening(SurveyInvitation(invitation_id=invited.id, platform_id=user), "slack")
    async with database.transaction() as session:
        state = InvitationState.SENT if sent else InvitationState.FAILED
        await stored_invitations.settle_invitation(
            session, invitation_id=invited.id, state=state, reason=None if sent else "refused", now=clock.now
        )


async def test_response_rate_and_drop_off_by_invitation_attribute(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    invitations = Invitations(database, engine, {"slack": True}, clock)
    for user, region, sent in [("U1", "north", True), ("U2", "north", True), ("U5", "north", True)]:
        await invite(invitations, database, clock, user, region, sent)
    await invite(invitations, database, clock, "U3", "south", True)
    await invite(invitations, database, clock, "U4", "south", False)
    u1, u2, u3 = (Customer(engine, user_id=user, channel="slack") for user in ("U1", "U2", "U3"))
    await u1.say("5")
    await u1.say("skip")  # completed, the comment skipped
    await u2.say("5")  # waits at the comment
    await u3.say("4")
    await u3.say("Fine")  # completed; U5 never answers
    walk_in = Customer(engine, user_id="walk-in")  # no invitation: group "-"
    await walk_in.start("csat")
    await walk_in.say("1")
    await walk_in.say(RUDE)
    left = Customer(engine, user_id="left")
    await left.start("csat")
    await left.say("5")
    await left.start("nps")  # the CSAT survey closes, partial: it stopped at the comment

    built = await report(database, surveys["csat"], "region")

    [survey] = built.surveys
    funnel = survey.total.invitations
    assert funnel is not None
    assert (funnel.invitations, funnel.failed, funnel.delivered, funnel.started, funnel.completed) == (5, 1, 4, 3, 2)
    assert (funnel.response_percent, rounded(funnel.interval)) == (50.0, (15.0, 85.0))  # Wilson, 2 of 4
    groups = {g.group: g for g in survey.groups}
    assert {name: g.respondents for name, g in groups.items()} == {"-": 2, "north": 2, "south": 1}
    north, south = groups["north"].invitations, groups["south"].invitations
    assert north is not None and south is not None
    assert (north.delivered, north.completed, north.response_percent) == (3, 1, 100 / 3)
    assert (south.invitations, south.failed, south.response_percent) == (2, 1, 100.0)
    assert groups["-"].invitations is None  # no invitation has no region
    drop_off = [(q.question, q.reached, q.answered, q.skipped, q.left) for q in survey.questions]
    assert drop_off == [
        ("satisfaction", 6, 5, 0, 1),  # U5 still waits at it
        ("what_went_wrong", 1, 1, 0, 0),
        ("comment", 4, 1, 1, 2),  # U2 waits at it; "left" stopped there
    ]
    assert survey.questions[0].answered_percent == pytest.approx(500 / 6)


async def test_a_conversation_two_invitations_led_to_counts_once_in_the_total(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    invitations = Invitations(database, engine, {"slack": True}, clock)
    await invite(invitations, database, clock, "U1", "north", True)
    await Customer(engine, user_id="U1", channel="slack").say("5")
    async with database.transaction() as session:
        [first] = await session.exec(select(Invitation))
        tied = first.conversation_id
        session.add(Invitation(token="again", survey_id="csat", conversation_id=tied, attributes={"region": "south"}))

    [survey] = (await report(database, surveys["csat"], "region")).surveys

    assert {group.group: group.respondents for group in survey.groups} == {"north": 1, "south": 1}
    assert survey.total.csat is not None
    assert (survey.total.respondents, survey.total.csat.answers) == (1, 1)


async def test_cases_times_breaches_reopens_and_the_customers_yes_from_the_trail(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    for user in ("ann", "bob", "cat"):
        customer = Customer(engine, user_id=user)
        await customer.start("csat")
        await customer.say("1")
        await customer.say(RUDE)  # case 1, 2, 3: high priority, to acknowledge within the hour
    cases = Cases(database, CaseDesk(), clock)
    clock.advance(hours=1)
    await cases.acknowledge(1, "staff")
    clock.advance(hours=1)
    await cases.acknowledge(2, "staff")
    clock.advance(hours=4)
    assert await cases.escalate_overdue() == 1  # case 3, not acknowledged in time
    await cases.acknowledge(3, "staff")
    clock.advance(hours=1)
    for number in (1, 2):
        await cases.resolve(number, "staff", corrective_action="Apologised", root_cause="people", message=None)
    await cases.customer_answer(1, "test", "ann", resolved=True)
    await cases.customer_answer(2, "test", "bob", resolved=False)  # reopened: acknowledged again later
    clock.advance(hours=1)
    await cases.acknowledge(2, "staff")

    [survey] = (await report(database, surveys["csat"])).surveys

    figures = survey.total.cases
    assert figures is not None
    # to acknowledge: 1, 2 and 6 h (the first time each), median 2, 90th percentile 2 + 0.8 * (6 - 2); to resolve: 7
    hours = (figures.median_hours_to_acknowledge, figures.p90_hours_to_acknowledge, figures.median_hours_to_resolve)
    assert hours == pytest.approx((2.0, 5.2, 7.0))
    assert (figures.count, figures.acknowledged, figures.resolved, figures.per_completed_percent) == (3, 3, 2, 100.0)
    assert (figures.sla_breaches, figures.reopened, figures.reopen_percent, figures.confirmed) == (1, 1, 50.0, 1)
    assert (figures.resolved_yes_percent, rounded(figures.resolved_yes_interval)) == (50.0, (9.45, 90.55))


async def test_no_cases_give_counts_of_zero_and_no_times(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    customer = Customer(engine, user_id="happy")
    await customer.start("csat")
    await customer.say("5")
    await customer.say("skip")
    [survey] = (await report(database, surveys["csat"])).surveys
    figures = survey.total.cases
    assert figures is not None
    assert (figures.count, figures.per_completed_percent, figures.median_hours_to_acknowledge) == (0, 0.0, None)
    assert (figures.reopen_percent, figures.resolved_yes_percent, survey.total.invitations) == (None, None, None)


async def answer_csat(engine: Engine, user: str, score: int, words: str | None) -> None:
    customer = Customer(engine, user_id=user)
    await customer.start("csat")
    await customer.say(str(score))
    await customer.say(words or "skip")


async def test_sentiment_histogram_and_contradicted_scores_with_their_words_as_written(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await answer_csat(engine, "ann", 5, "Terrible\u202e, the parcel\nwas late and broken")  # a high score, bad words
    await answer_csat(engine, "bob", 1, RUDE)
    await answer_csat(engine, "cat", 3, PRAISE)

    [survey] = (await report(database, surveys["csat"])).surveys

    sentiment = survey.total.sentiment
    assert sentiment is not None
    assert (sentiment.comments, sentiment.negative) == (3, 2)
    assert list(sentiment.histogram) == [
        "-1.00..-0.75", "-0.75..-0.50", "-0.50..-0.25", "-0.25..+0.00",
        "+0.00..+0.25", "+0.25..+0.50", "+0.50..+0.75", "+0.75..+1.00",
    ]  # fmt: skip
    assert sum(sentiment.histogram.values()) == 3
    assert sum(sentiment.histogram[label] for label in list(sentiment.histogram)[:4]) == 2  # the negative ones
    [contradiction] = survey.contradictions
    assert (contradiction.score, contradiction.sentiment) == (5, "negative")
    assert contradiction.words == "Terrible, the parcel was late and broken"  # one line, the bidi control gone


async def test_no_answers_give_empty_lists_and_no_figures(database: Database, surveys: dict[str, Survey]) -> None:
    [survey] = (await report(database, surveys["csat"])).surveys
    assert (survey.total.respondents, survey.total.sentiment, survey.total.cases) == (0, None, None)
    assert [(q.question, q.reached, q.answered_percent) for q in survey.questions] == [
        ("satisfaction", 0, None),
        ("what_went_wrong", 0, None),
        ("comment", 0, None),
    ]
    assert survey.contradictions == [] and survey.themes is not None and survey.themes.phrases == []


async def test_themes_and_csat_against_the_previous_period_of_the_same_length(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    start = clock.now
    for number in range(10):
        await answer_csat(engine, f"early-{number}", 5, None)
    await answer_csat(engine, "early-unhappy", 1, "The parcel late again")
    clock.advance(days=7)
    for number in range(10):
        words = RUDE if number < 3 else "The support team never called back"
        await answer_csat(engine, f"late-{number}", 2, words)

    since, until = start + timedelta(days=7), start + timedelta(days=14)
    [survey] = (await report(database, surveys["csat"], since=since, until=until)).surveys

    previous = survey.previous
    assert previous is not None and (previous.since, previous.until) == (start, since)
    assert survey.total.csat is not None and survey.total.csat.percent == 0.0
    assert previous.csat_percent == pytest.approx(1000 / 11)
    assert (previous.csat_change, previous.nps_change) == ("down", None)  # 67.2-98.5 % then 0-27.8 %; no NPS
    themes = survey.themes
    assert themes is not None and themes.comments_read == 10
    assert [(t.name, t.count, t.previous, t.change) for t in themes.categories] == [
        ("service", 7, 0, 7),  # "support": the first category that matches
        ("delivery", 3, 1, 2),
    ]
    assert [(t.name, t.count, t.previous, t.change) for t in themes.phrases] == [
        ("called back", 7, 0, 7),
        ("never called", 7, 0, 7),
        ("support team", 7, 0, 7),
        ("team never", 7, 0, 7),
        ("parcel late", 3, 1, 2),  # "late again" only before: not among this period's
    ]


async def test_one_answer_each_period_is_no_real_change(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    start = clock.now
    await answer_csat(engine, "before", 5, None)
    clock.advance(days=1)
    await answer_csat(engine, "after", 3, None)
    since, until = start + timedelta(days=1), start + timedelta(days=2)
    [survey] = (await report(database, surveys["csat"], since=since, until=until)).surveys
    assert survey.previous is not None and survey.previous.csat_change == "no real change"  # 20.7-100 % then 0-79.3 %


async def rate_services(engine: Engine, sizes: dict[str, int]) -> None:
    from bot.events import SubmitSurvey

    for service, size in sizes.items():
        for number in range(size):
            who = Customer(engine, user_id=f"{service}-{number}").who
            answers = {"service": service, "quality": "5", "speed": "3", "comment": RUDE}
            await engine.handle(
                SubmitSurvey(who, f"form-{service}-{number}", "internal-service", answers, anonymous=True)
            )


async def test_a_hidden_anonymous_group_shows_none_of_the_new_figures_nor_the_one_that_would_reveal_it(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await rate_services(engine, {"hr": 6, "finance": 2, "facilities": 5})

    [survey] = (await report(database, surveys["internal-service"], Breakdown.SERVICE, min_group_size=5)).surveys

    hidden = {g.group: (g.hidden, g.cases, g.sentiment) for g in survey.groups if g.hidden}
    assert hidden == {
        "finance": ("too few anonymous answers", None, None),
        "facilities": ("would reveal a hidden group by subtraction", None, None),
    }
    assert survey.total.cases is not None and survey.total.cases.count == 13
    # 5 with rude words: contradicted, listed with no time, which could single out an anonymous author
    assert len(survey.contradictions) == 13 and {row.started_at for row in survey.contradictions} == {None}


async def test_a_survey_too_small_in_total_lists_no_words_themes_nor_drop_off(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    await rate_services(engine, {"hr": 3})
    [survey] = (await report(database, surveys["internal-service"], min_group_size=5, since=clock.now)).surveys
    assert survey.total.hidden == "too few anonymous answers"
    assert (survey.questions, survey.themes, survey.contradictions, survey.previous) == ([], None, [], None)
    assert "Rude" not in report_json(Report(None, None, None, 5, [survey])).lower()


def test_by_takes_a_breakdown_or_an_attribute_name() -> None:
    assert (breakdown_of("week"), breakdown_of("region")) == (Breakdown.WEEK, "region")
    with pytest.raises(ValueError, match="neither"):
        breakdown_of("region name")


async def test_the_json_report_carries_the_new_figures(
    engine: Engine, database: Database, surveys: dict[str, Survey]
) -> None:
    await answer_csat(engine, "ann", 1, RUDE)
    document = json.loads(report_json(await report(database, surveys["csat"])))
    [survey] = document["surveys"]
    assert survey["themes"]["categories"] == [{"name": "delivery", "count": 1, "previous": None, "change": None}]
    assert survey["total"]["cases"]["count"] == 1
    assert [q["question"] for q in survey["questions"]] == ["satisfaction", "what_went_wrong", "comment"]


class Tables(HTMLParser):
    """The cells of every table of a page that has a heading of its own, by that heading."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.heading: str | None = None
        self.in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h3":
            self.in_heading, self.heading = True, ""
        elif tag == "tr" and self.heading:
            self.tables.setdefault(self.heading, []).append([])
        elif tag == "td" and self.heading:
            self.tables[self.heading][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        self.in_heading = self.in_heading and tag != "h3"

    def handle_data(self, data: str) -> None:
        if self.in_heading and self.heading is not None:
            self.heading += data
        elif self.heading in self.tables and self.lasttag == "td" and self.tables[self.heading][-1]:
            self.tables[self.heading][-1][-1] += data


def share(question: dict[str, Any]) -> str:
    return "-" if question["answered_percent"] is None else f"{question['answered_percent']:.1f}"


def with_interval(value: float, interval: list[float]) -> str:
    return f"{value:.1f} ({interval[0]:.1f}-{interval[1]:.1f})"


async def test_the_html_tables_and_charts_show_the_numbers_of_the_json_and_the_words_escaped(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    invitations = Invitations(database, engine, {"slack": True}, clock)
    await invite(invitations, database, clock, "U1", "north", True)
    await invite(invitations, database, clock, "U2", "north", True)
    invited = Customer(engine, user_id="U1", channel="slack")
    await invited.say("5")
    await invited.say("<b>Awful</b>, the parcel late & broken")  # a high score, bad words, markup
    await answer_csat(engine, "bob", 1, RUDE)
    await Cases(database, CaseDesk(), clock).acknowledge(2, "staff")
    built = await report(database, surveys["csat"], "region")

    page, document = report_html(built), json.loads(report_json(built))

    parser = Tables()
    parser.feed(page)
    tables = {title: [row for row in rows if row] for title, rows in parser.tables.items()}
    [survey] = document["surveys"]
    total, funnel, cases = survey["total"], survey["total"]["invitations"], survey["total"]["cases"]
    assert tables["Cases and invitations"][0] == [
        "all",
        str(funnel["delivered"]),
        with_interval(funnel["response_percent"], funnel["interval"]),
        f"{cases['per_completed_percent']:.1f}",
        str(cases["sla_breaches"]),
        "-",  # nothing resolved: no reopen rate
        "-",
    ]
    assert tables["Drop-off per question"] == [
        [q["question"], *(str(q[count]) for count in ("reached", "answered", "skipped", "left")), share(q)]
        for q in survey["questions"]
    ]
    histogram = total["sentiment"]["histogram"]
    assert tables["Sentiment of the comments (polarity)"] == [[name, str(n)] for name, n in histogram.items()]
    phrases = survey["themes"]["phrases"]
    assert tables["Top phrases of negative comments"] == [[t["name"], str(t["count"]), "-", "-"] for t in phrases]
    [contradiction] = survey["contradictions"]
    assert tables["Scores their words contradict"][0][1:] == ["5", "negative", f"“{contradiction['words']}”"]
    assert "&lt;b&gt;Awful&lt;/b&gt;, the parcel late &amp; broken" in page and "<b>Awful" not in page
    charts = {chart.layout.title.text: chart for chart in survey_figures(built.surveys[0])}
    assert list(charts["Response funnel"].data[0].x) == [funnel[step] for step in FUNNEL_STEPS]
    assert list(charts["Sentiment of the comments (polarity)"].data[0].y) == list(histogram.values())
    assert list(charts["Top phrases of negative comments"].data[0].x) == [t["count"] for t in reversed(phrases)]


async def test_all_passives_contradict_nothing_and_make_no_real_change(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    start = clock.now
    for number, (score, words) in enumerate([(7, None), (8, RUDE), (8, None), (7, PRAISE)]):
        clock.advance(hours=12)  # two a day, on two days
        customer = Customer(engine, user_id=f"passive-{number}")
        await customer.start("nps")
        await customer.say(str(score))
        await customer.say(words or "skip")

    since, until = start + timedelta(days=1), start + timedelta(days=2)
    [survey] = (await report(database, surveys["nps"], since=since, until=until)).surveys

    assert survey.contradictions == []  # a passive is neither a high nor a low score
    previous = survey.previous
    assert previous is not None and (previous.nps, rounded(previous.nps_interval)) == (0.0, (0.0, 0.0))
    assert (previous.nps_change, previous.csat_change) == ("no real change", None)  # the survey asks no CSAT
    assert survey.total.nps is not None and (survey.total.nps.passives, survey.total.nps.score) == (2, 0.0)


async def test_invitations_to_an_anonymous_survey_are_counted_up_to_their_delivery_and_group_nobody(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    invitations = Invitations(database, engine, {"slack": True}, clock)
    for region, size in {"north": 6, "south": 2}.items():
        for number in range(size):
            user = f"{region}-{number}"
            await invite(invitations, database, clock, user, region, True, survey="internal-service")
            await Customer(engine, user_id=user, channel="slack").say("hr")

    [survey] = (await report(database, surveys["internal-service"], "region", min_group_size=5)).surveys

    # An anonymous survey is not tied to its invitation: no region, no start, no response rate to tell.
    assert [(g.group, g.respondents, g.hidden, g.invitations) for g in survey.groups] == [("-", 8, None, None)]
    funnel = survey.total.invitations
    assert funnel is not None and (funnel.invitations, funnel.delivered) == (8, 8)
    assert (funnel.started, funnel.completed, funnel.response_percent) == (None, None, None)


async def test_a_previous_period_too_small_to_show_gives_no_count_of_its_own(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    start = clock.now
    await rate_services(engine, {"hr": 2})  # anonymous, fewer than 5
    clock.advance(days=1)
    await rate_services(engine, {"finance": 6})
    since, until = start + timedelta(days=1), start + timedelta(days=2)

    [survey] = (await report(database, surveys["internal-service"], min_group_size=5, since=since, until=until)).surveys

    assert survey.previous is not None and (survey.previous.csat_percent, survey.previous.csat_change) == (None, None)
    assert survey.themes is not None and [(t.name, t.count, t.previous) for t in survey.themes.categories] == [
        ("delivery", 6, None)
    ]


async def test_chart_labels_show_markup_in_group_names_as_text(
    engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    # plotly reads tags in its labels: an API caller's attribute must not become a link. (Phrases go through the
    # same escaping, but their words are split at every sign, so no test can put a tag in one.)
    link = '<a href="https://evil.example">prize</a>'
    invitations = Invitations(database, engine, {"slack": True}, clock)
    await invite(invitations, database, clock, "U1", link, True)
    invited = Customer(engine, user_id="U1", channel="slack")
    await invited.say("1")
    built = await report(database, surveys["csat"], "region")

    charts = {chart.layout.title.text: chart for chart in survey_figures(built.surveys[0])}

    groups = list(charts["CSAT % (95 % interval)"].data[0].x)
    assert '&lt;a href="https://evil.example"&gt;prize&lt;/a&gt;' in groups and link not in groups


async def test_a_period_starting_near_year_one_has_no_period_before_it(
    database: Database, surveys: dict[str, Survey]
) -> None:
    # The period before it would start before the calendar does: the report says nothing of it rather than fail.
    built = await report(
        database, surveys["csat"], since=datetime(1, 1, 2, tzinfo=UTC), until=datetime(1, 1, 9, tzinfo=UTC)
    )

    assert built.surveys[0].previous is None and built.surveys[0].total.respondents == 0
