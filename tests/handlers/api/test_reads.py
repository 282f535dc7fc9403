"""GET /api/v1/responses, /api/v1/cases and /api/v1/cases/{id}: filters, cursor pages, and the people's words
returned as JSON data."""

from __future__ import annotations

import httpx

from bot.engine import Engine
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.handlers.api.conftest import CRM

WORDS = '<b>late</b> & "broken" =cmd()'  # returned as they were written: JSON data, not markup


async def taken(engine: Engine, clock: Clock) -> None:
    """alice completes csat for ORDER1; an hour later bob scores it 1 for ORDER2 (a case) and says why; carol opens
    nps and answers nothing."""
    alice = Customer(engine, "alice")
    await alice.start("csat", "ORDER1")
    await alice.press("5")
    await alice.press("skip")
    clock.advance(hours=1)
    bob = Customer(engine, "bob")
    await bob.start("csat", "ORDER2")
    await bob.press("1")
    await bob.say(WORDS)
    await Customer(engine, "carol").start("nps")


async def get(client: httpx.AsyncClient, path: str, **params: str | int | list[str]) -> httpx.Response:
    return await client.get(path, params=params, headers=CRM)


async def test_responses_are_the_surveys_taken_with_their_answers_oldest_first(
    client: httpx.AsyncClient, engine: Engine, clock: Clock
) -> None:
    await taken(engine, clock)
    body = (await get(client, "/api/v1/responses")).json()
    assert [(r["reference"], r["status"]) for r in body["data"]] == [("ORDER1", "completed"), ("ORDER2", "completed")]
    assert body["next_cursor"] is None
    bob = body["data"][1]
    assert [(a["question"], a["value"], a["text"]) for a in bob["answers"]] == [
        ("satisfaction", 1, None),
        ("what_went_wrong", None, WORDS),
    ]


async def test_responses_are_filtered_by_survey_time_and_reference(
    client: httpx.AsyncClient, engine: Engine, clock: Clock
) -> None:
    await taken(engine, clock)
    start = clock.now.replace(minute=0).isoformat()

    async def references(**params: str) -> list[str]:
        return [r["reference"] for r in (await get(client, "/api/v1/responses", **params)).json()["data"]]

    assert await references(reference="ORDER2") == ["ORDER2"]
    assert await references(survey="nps") == []
    assert await references(since=start) == ["ORDER2"]
    assert await references(until=start) == ["ORDER1"]


async def test_responses_come_in_pages_that_a_cursor_walks(
    client: httpx.AsyncClient, engine: Engine, clock: Clock
) -> None:
    await taken(engine, clock)
    first = (await get(client, "/api/v1/responses", limit=1)).json()
    second = (await get(client, "/api/v1/responses", limit=1, cursor=first["next_cursor"])).json()
    assert [r["reference"] for r in first["data"] + second["data"]] == ["ORDER1", "ORDER2"]
    assert second["next_cursor"] is None


async def test_a_bad_cursor_limit_or_attribute_filter_is_422_naming_it(client: httpx.AsyncClient) -> None:
    for params, field in (
        ({"cursor": "not-ours"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"attribute": "region"}, "attribute"),
        ({"attribute": "odd name=x"}, "attribute"),
        ({"since": "yesterday"}, "since"),
    ):
        response = await get(client, "/api/v1/responses", **params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_cases_are_listed_newest_first_and_each_shows_its_trail(
    client: httpx.AsyncClient, engine: Engine, clock: Clock
) -> None:
    await taken(engine, clock)
    await Customer(engine, "dave").complain("nobody answers the phone")
    first = (await get(client, "/api/v1/cases", limit=1)).json()
    second = (await get(client, "/api/v1/cases", limit=1, cursor=first["next_cursor"])).json()
    assert [case["text"] for case in first["data"] + second["data"]] == ["nobody answers the phone", WORDS]
    assert second["next_cursor"] is None
    assert [case["reference"] for case in (await get(client, "/api/v1/cases", status="new")).json()["data"]] == [
        None,
        "ORDER2",
    ]
    case = (await get(client, f"/api/v1/cases/{second['data'][0]['id']}")).json()
    assert (case["status"], case["survey"], case["reasons"]) == ("new", "csat", ["low_score", "negative_text"])
    assert [step["action"] for step in case["trail"]][:1] == ["opened"]


async def test_an_unknown_case_or_status_is_answered_so(client: httpx.AsyncClient) -> None:
    assert (await get(client, "/api/v1/cases/4242")).status_code == 404
    response = await get(client, "/api/v1/cases", status="lost")
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["query", "status"])
