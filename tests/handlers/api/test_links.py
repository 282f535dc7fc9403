"""POST /api/v1/links and GET /api/v1/links/{token}/qr.png: every answer, the audit, and a link made through the API
that a Telegram customer opens, whose answers the responses' filters find by the link's attributes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import AuditEntry, InboxUpdate
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.api.conftest import CRM, CUSTOMER, Channels
from tests.qr_codes import decoded

USERNAME = "feedback_test_bot"
ORDER = {"survey": "csat", "reference": "ORDER123", "attributes": {"region": "north"}}


@pytest.fixture
def sections(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The API's channels, the bot's Telegram username set so that links have an address."""
    return sections | {"telegram": sections["telegram"] | {"username": USERNAME}}


async def make_link(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] = CRM) -> httpx.Response:
    return await client.post("/api/v1/links", json=body, headers=headers)


def refusal(response: httpx.Response) -> tuple[int, list[str | int], str]:
    problem = response.json()["detail"][0]
    return response.status_code, problem["loc"], problem["msg"]


async def test_a_link_is_made_with_its_deep_link_and_audited_with_the_keys_name(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await make_link(client, ORDER | {"expires_days": 30})
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["url"] == f"https://t.me/{USERNAME}?start={link['token']}"
    assert (link["survey"], link["reference"], link["attributes"]) == ("csat", "ORDER123", {"region": "north"})
    assert link["qr_png"] == f"/api/v1/links/{link['token']}/qr.png"
    assert link["expires_at"] is not None and "ORDER123" not in link["url"]
    async with database.snapshot() as session:
        [audit] = await session.exec(select(AuditEntry))
    assert (audit.actor, audit.action) == ("api:crm", "link.create")


async def test_the_qr_code_scans_to_the_link(client: httpx.AsyncClient) -> None:
    link = (await make_link(client, ORDER)).json()
    image = await client.get(link["qr_png"], headers=CRM)
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert decoded(image.content) == [link["url"]]


async def test_a_missing_or_wrong_key_gets_401_and_makes_no_link(client: httpx.AsyncClient, database: Database) -> None:
    assert (await client.post("/api/v1/links", json=ORDER)).status_code == 401
    wrong = await make_link(client, ORDER, {"Authorization": "Bearer not-a-key"})
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (401, 'Bearer realm="feedbackbot"')
    link = (await make_link(client, ORDER)).json()
    assert (await client.get(link["qr_png"])).status_code == 401
    async with database.snapshot() as session:
        assert len(list(await session.exec(select(AuditEntry)))) == 1


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (ORDER | {"survey": "nosuch"}, ["body", "survey"], "no survey 'nosuch'"),
        (ORDER | {"attributes": {"the region": "north"}}, ["body", "attributes", "the region", "[key]"], "pattern"),
        (ORDER | {"expires_days": 0}, ["body", "expires_days"], "greater than or equal to 1"),
        (ORDER | {"recipient": {"person_id": 1}}, ["body", "recipient"], "Extra inputs are not permitted"),
        ({"reference": "ORDER123"}, ["body", "survey"], "Field required"),
    ],
)
async def test_a_bad_field_gets_422_naming_it(
    client: httpx.AsyncClient, body: dict[str, Any], field: list[str], reason: str
) -> None:
    status, location, message = refusal(await make_link(client, body))
    assert (status, location) == (422, field)
    assert reason in message


async def test_the_qr_code_of_an_unknown_or_expired_link_is_refused(client: httpx.AsyncClient, clock: Clock) -> None:
    link = (await make_link(client, ORDER | {"expires_days": 1})).json()
    forged = link["token"][:-1] + ("A" if link["token"][-1] != "A" else "B")
    assert (await client.get(f"/api/v1/links/{forged}/qr.png", headers=CRM)).status_code == 404
    clock.advance(days=1)
    gone = await client.get(link["qr_png"], headers=CRM)
    assert (gone.status_code, gone.json()) == (410, {"detail": "the link has expired"})


async def test_a_customer_opening_the_link_answers_with_its_reference_and_attributes(
    client: httpx.AsyncClient, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    link = (await make_link(client, ORDER)).json()
    await handled(database, fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", link["token"])))
    question = fake_telegram.last_bot_message(CUSTOMER)
    assert "How satisfied are you with our service?" in question["text"]
    low_score = question["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await handled(database, fake_telegram.push_update(fake_telegram.build.callback_query(question, low_score)))

    for region, found in (("north", [("ORDER123", {"region": "north"})]), ("south", [])):
        params = {"attribute": f"region={region}"}
        responses = (await client.get("/api/v1/responses", params=params, headers=CRM)).json()["data"]
        assert [(response["reference"], response["attributes"]) for response in responses] == found
        for response in responses:
            assert [(answer["question"], answer["value"]) for answer in response["answers"]] == [("satisfaction", 2)]


async def handled(database: Database, update_id: int) -> None:
    async with asyncio.timeout(10):
        while True:
            async with database.snapshot() as session:
                row = await session.get(InboxUpdate, ("telegram", update_id))
            if row is not None and row.handled_at is not None:
                return
            await asyncio.sleep(0.02)
