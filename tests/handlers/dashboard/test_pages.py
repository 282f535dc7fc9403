"""The dashboard's pages over HTTP: the login, the report's figures with the filters, the open cases oldest first,
a case's trail with the customer's words escaped, and the headers that keep the pages private."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import httpx
import pytest

from bot.app import Core
from handlers.dashboard.app import build_dashboard
from handlers.metrics import Metrics
from handlers.web import create_app
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.handlers.dashboard.conftest import LOGIN, PASSWORD, RUDE, USER, answer_csat, rows_of
from tests.handlers.scrape import samples_of

PAGES = ("/dashboard/", "/dashboard/cases", "/dashboard/cases/1", "/dashboard/static/plotly.min.js")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USER, PASSWORD + "x"),
        basic("bob", PASSWORD),
        basic(USER.upper(), PASSWORD),
        {"Authorization": "Basic not-base64!"},
        {"Authorization": f"Bearer {PASSWORD}"},
    ],
    ids=["none", "wrong password", "unknown user", "other case", "malformed", "not basic"],
)
async def test_every_page_is_refused_without_the_login(
    client: httpx.AsyncClient, core: Core, headers: dict[str, str]
) -> None:
    await Customer(core.engine, "cat", "telegram").complain("Secret words of a customer")
    for path in PAGES:
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == 'Basic realm="feedbackbot dashboard", charset="UTF-8"'
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Secret words" not in response.text


async def test_the_overview_shows_the_report_of_the_surveys_filtered(client: httpx.AsyncClient, core: Core) -> None:
    await answer_csat(core.engine, "ann", "telegram", 5)
    await answer_csat(core.engine, "bob", "telegram", 4)
    await answer_csat(core.engine, "cat", "slack", 1, RUDE)

    page = (await client.get("/dashboard/?survey=csat&by=channel", headers=LOGIN)).text

    assert re.findall(r'<section class="survey" data-survey="([^"]+)"', page) == ["csat"]
    rows = rows_of(page, "group")
    assert list(rows) == ["all", "slack", "telegram"]
    # CSAT: 2 of 3 satisfied, Wilson interval; negative comments: 1 of 1; the slack customer's case
    assert rows["all"][:8] == ["all", "3", "66.7 (20.8-93.9)", "3.33", "-", "-", "100.0 (20.7-100.0)", "1"]
    assert rows["telegram"][:4] == ["telegram", "2", "100.0 (34.2-100.0)", "4.50"]
    assert rows["slack"][:4] == ["slack", "1", "0.0 (0.0-79.3)", "1.00"]
    # CSAT % by channel, the CSAT scores, the sentiment histogram, the phrases of the negative comment
    assert page.count('class="chart" data-figure=') == 4
    assert '<option value="channel" selected>' in page
    assert '<option value="csat" selected>Customer satisfaction (csat)</option>' in page

    every_survey = (await client.get("/dashboard/", headers=LOGIN)).text
    assert re.findall(r'data-survey="([^"]+)"', every_survey) == ["ces", "csat", "internal-service", "nps"]


async def test_the_period_filters_count_the_surveys_started_in_it(
    client: httpx.AsyncClient, core: Core, clock: Clock
) -> None:
    await answer_csat(core.engine, "ann", "telegram", 5)  # 2026-11-26
    clock.advance(days=1)
    await answer_csat(core.engine, "bob", "telegram", 1)  # 2026-11-27

    async def respondents(query: str) -> str:
        page = (await client.get(f"/dashboard/?survey=csat&{query}", headers=LOGIN)).text
        return rows_of(page, "group")["all"][1]

    assert await respondents("since=2026-11-27") == "1"
    assert await respondents("until=2026-11-27") == "1"
    assert await respondents("since=2026-11-26&until=2026-11-28") == "2"
    assert await respondents("since=2026-11-28") == "0"
    by_day = rows_of((await client.get("/dashboard/?survey=csat&by=day", headers=LOGIN)).text, "group")
    assert list(by_day) == ["all", "2026-11-26", "2026-11-27"]


async def test_a_report_is_counted_again_after_a_minute(client: httpx.AsyncClient, core: Core, clock: Clock) -> None:
    async def shown() -> tuple[str, str]:
        page = (await client.get("/dashboard/?survey=csat", headers=LOGIN)).text
        counted = re.findall(r"Counted at ([^;]+);", page)[0]
        return rows_of(page, "group")["all"][1], counted

    await answer_csat(core.engine, "ann", "telegram", 5)
    assert await shown() == ("1", "2026-11-26 09:00 UTC")
    await answer_csat(core.engine, "bob", "telegram", 4)
    clock.advance(seconds=59)
    assert await shown() == ("1", "2026-11-26 09:00 UTC")  # clicking back and forth costs the database nothing
    clock.advance(seconds=1)
    assert await shown() == ("2", "2026-11-26 09:01 UTC")


async def test_the_first_page_counts_the_last_twelve_weeks_and_an_empty_since_every_answer(
    client: httpx.AsyncClient, core: Core, clock: Clock
) -> None:
    today = clock.now  # a Thursday
    clock.now = datetime(2026, 9, 6, 23, 59, tzinfo=UTC)  # the Sunday before the twelfth week back
    await answer_csat(core.engine, "ann", "telegram", 5)
    clock.now = today
    await answer_csat(core.engine, "bob", "telegram", 1)

    first = (await client.get("/dashboard/?survey=csat", headers=LOGIN)).text  # as the survey menu leaves it
    assert "<h1>Report from 2026-09-07 00:00 UTC to now, by survey</h1>" in first
    assert '<input type="date" name="since" value="2026-09-07">' in first
    assert rows_of(first, "group")["all"][1] == "1"
    every = (await client.get("/dashboard/?since=&survey=csat", headers=LOGIN)).text
    assert "<h1>Report from the start to now, by survey</h1>" in every
    assert rows_of(every, "group")["all"][1] == "2"


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("since=26.11.2026", "since: not a date (YYYY-MM-DD)"),
        ("until=2026-11-20&since=2026-11-26", "until: must be after since"),
        ("survey=nope", "survey: there is no survey &#39;nope&#39;"),
        ("by=region", "by: choose one of channel, day, week, month, service"),
    ],
)
async def test_a_filter_it_cannot_read_is_named(client: httpx.AsyncClient, query: str, problem: str) -> None:
    response = await client.get(f"/dashboard/?{query}", headers=LOGIN)
    assert response.status_code == 400
    assert f'<p class="error" role="alert">{problem}</p>' in response.text


@pytest.mark.every_database
async def test_open_cases_oldest_first_with_their_age_and_owner(
    client: httpx.AsyncClient, core: Core, clock: Clock
) -> None:
    for name in ("ann", "bob", "cat"):
        await Customer(core.engine, name, "telegram").complain("The parcel never came")
        clock.advance(hours=2)
    await core.cases.assign(3, "U0STAFF", "U0OWNER")
    await core.cases.resolve(2, "U0STAFF", corrective_action="Sent again", root_cause="supplier", message=None)
    clock.advance(days=1)

    page = (await client.get("/dashboard/cases", headers=LOGIN)).text

    assert "2 cases wait for staff" in page
    rows = rows_of(page, "case")
    assert list(rows) == ["1", "3"]  # case 2 is resolved: it waits for nobody on staff
    # number, age, status, priority (a complaint made in words is urgent), owner, survey, channel, category
    assert rows["1"] == ["#1", "1 d 6 h (overdue)", "new", "high", "nobody yet", "direct", "telegram", "delivery"]
    assert rows["3"][1] == "1 d 2 h (overdue)" and rows["3"][4] == "U0OWNER"
    assert '<a href="/dashboard/cases/3">#3</a>' in page


async def test_a_case_shows_its_trail_with_the_customers_words_escaped(client: httpx.AsyncClient, core: Core) -> None:
    customer = Customer(core.engine, "cat", "telegram")
    await customer.complain('<script>alert("x")</script> see <a href="https://evil.example">here</a>\u202eon')
    await core.cases.contact(1, "U0STAFF", "Which order was it?")
    await customer.say("<img src=x onerror=alert(1)> order 42")

    page = (await client.get("/dashboard/cases/1", headers=LOGIN)).text

    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;a href=&#34;https://evil.example&#34;&gt;here&lt;/a&gt;on" in page  # no link, no reversed text
    assert "<script>alert" not in page and '<a href="https://evil' not in page and "\u202e" not in page
    trail = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert trail == [("system", "opened"), ("U0STAFF", "contacted"), ("customer", "replied")]
    assert "the customer replied: &lt;img src=x onerror=alert(1)&gt; order 42" in page
    assert "<img" not in page


async def test_an_unknown_case_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/cases/99", headers=LOGIN)
    assert response.status_code == 404
    assert "<h1>No case #99</h1>" in response.text
    assert (await client.get("/dashboard/cases/first", headers=LOGIN)).status_code == 404


async def test_pages_are_private_and_framed_by_nobody(client: httpx.AsyncClient) -> None:
    for path in ("/dashboard/", "/dashboard/cases"):
        headers = (await client.get(path, headers=LOGIN)).headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy


async def test_plotly_js_comes_from_the_bot_and_is_sent_again_only_when_changed(client: httpx.AsyncClient) -> None:
    page = (await client.get("/dashboard/", headers=LOGIN)).text
    assert '<script src="/dashboard/static/plotly.min.js" defer></script>' in page
    assert "https://" not in page  # nothing from another server: the page works with no network

    script = await client.get("/dashboard/static/plotly.min.js", headers=LOGIN)
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.text.startswith("/**") and "Plotly" in script.text[:1000]
    assert script.headers["Cache-Control"] == "no-cache"
    again = await client.get(
        "/dashboard/static/plotly.min.js", headers=LOGIN | {"If-None-Match": script.headers["ETag"]}
    )
    assert again.status_code == 304 and again.content == b""
    drawing = await client.get("/dashboard/static/dashboard.js", headers=LOGIN)
    assert drawing.status_code == 200 and "Plotly.newPlot" in drawing.text


async def test_the_dashboard_address_without_its_slash_leads_to_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 307 and response.headers["Location"] == "/dashboard/"


async def test_without_dashboard_users_there_is_no_dashboard(core: Core) -> None:
    app = create_app(core.database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        assert (await client.get("/dashboard/", headers=LOGIN)).status_code == 404


async def test_requests_are_timed_by_the_template_of_the_dashboard_route(core: Core) -> None:
    metrics = Metrics(core.database)
    app = create_app(core.database, dashboard=build_dashboard(core), metrics=metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        await client.get("/dashboard/cases/42", headers=LOGIN)
        await client.get("/dashboard/static/dashboard.css", headers=LOGIN)
        await client.get("/dashboard/cases/42")
        exposition = (await client.get("/metrics")).text
    timed = {
        labels: count
        for (name, labels), count in samples_of(exposition).items()
        if name == "feedbackbot_http_request_seconds_count" and ("route", "/metrics") not in labels
    }
    assert timed == {
        (("method", "GET"), ("route", "/dashboard/cases/{number:int}"), ("status", "404")): 1,
        (("method", "GET"), ("route", "/dashboard/cases/{number:int}"), ("status", "401")): 1,
        (("method", "GET"), ("route", "/dashboard/static"), ("status", "200")): 1,
    }
