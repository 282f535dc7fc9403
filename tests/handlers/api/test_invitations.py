"""POST /api/v1/invitations and GET /api/v1/invitations/{id}: every answer, idempotency, the rules that skip, and
an invitation through the outbox to the person's chat, on Telegram and on Slack."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.app import Core
from bot.config import InvitationSettings
from bot.events import Forget, Respondent
from bot.outbound import OutboundMessage, RetryLater, SendResult
from bot.outbox import MAX_ATTEMPTS, Dispatcher
from handlers.telegram import delivery
from storage import queries
from storage.db import Database
from storage.models import AuditEntry, InboxUpdate, OutboxMessage
from storage.person_record import audit_log
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.api.conftest import CRM, CUSTOMER, EMPLOYEE, SHOP, Channels, known_person

TO_CUSTOMER = {"channel": "telegram", "platform_id": str(CUSTOMER)}
CSAT = {"survey": "csat", "recipient": TO_CUSTOMER, "reference": "ORDER123", "attributes": {"region": "north"}}


async def outbox(database: Database) -> list[OutboxMessage]:
    async with database.snapshot() as session:
        return list(await session.exec(select(OutboxMessage)))


async def invite(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/api/v1/invitations", json=body, headers=CRM | headers)


def refusal(response: httpx.Response) -> tuple[int, list[str | int], str]:
    """The status and the first problem's field and reason."""
    problem = response.json()["detail"][0]
    return response.status_code, problem["loc"], problem["msg"]


async def test_an_invitation_to_a_known_telegram_user_opens_the_survey_in_their_chat(
    client: httpx.AsyncClient, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    await known_person(database)
    response = await invite(client, CSAT)
    assert response.status_code == 201
    invitation = response.json()
    assert (invitation["state"], invitation["reference"], invitation["attributes"]) == (
        "invited",
        "ORDER123",
        {"region": "north"},
    )
    assert response.headers["Location"] == f"/api/v1/invitations/{invitation['id']}"

    assert await channels.dispatcher.run_once() == 1
    question = fake_telegram.last_bot_message(CUSTOMER)
    assert question["text"].startswith("Two quick questions about your experience.\n\nHow satisfied are you")
    assert len(question["reply_markup"]["inline_keyboard"][0]) == 5  # the csat scale's buttons
    assert (await client.get(response.headers["Location"], headers=CRM)).json()["state"] == "sent"

    first_button = question["reply_markup"]["inline_keyboard"][0][4]["callback_data"]
    await handled(database, fake_telegram.push_update(fake_telegram.build.callback_query(question, first_button)))
    assert (await client.get(response.headers["Location"], headers=CRM)).json()["state"] == "started"
    for region, found in (("north", [(invitation["id"], "ORDER123")]), ("south", [])):
        params = {"attribute": f"region={region}"}
        responses = (await client.get("/api/v1/responses", params=params, headers=CRM)).json()["data"]
        assert [(r["invitation_id"], r["reference"]) for r in responses] == found


async def handled(database: Database, update_id: int) -> None:
    async with asyncio.timeout(10):
        while True:
            async with database.snapshot() as session:
                row = await session.get(InboxUpdate, ("telegram", update_id))
            if row is not None and row.handled_at is not None:
                return
            await asyncio.sleep(0.02)


async def test_an_invitation_to_a_slack_member_opens_the_survey_in_their_dm(
    client: httpx.AsyncClient, channels: Channels, fake_slack: FakeSlack
) -> None:
    body = {"survey": "internal-service", "recipient": {"channel": "slack", "platform_id": EMPLOYEE}}
    response = await invite(client, body)
    assert (response.status_code, response.json()["state"]) == (201, "invited")
    assert await channels.dispatcher.run_once() == 1
    posted = fake_slack.messages(EMPLOYEE)
    assert posted and any(block["type"] == "actions" for block in posted[-1]["blocks"])  # the first question's buttons
    assert (await client.get(response.headers["Location"], headers=CRM)).json()["state"] == "sent"


async def test_a_person_known_by_id_is_invited_on_their_channel(client: httpx.AsyncClient, database: Database) -> None:
    person_id = await known_person(database)
    response = await invite(client, {"survey": "nps", "recipient": {"person_id": person_id}})
    assert (response.status_code, response.json()["channel"]) == (201, "telegram")
    assert [message.kind for message in await outbox(database)] == ["survey_invitation"]


async def test_a_telegram_user_who_never_started_the_bot_is_refused_with_the_advice_to_send_a_link(
    client: httpx.AsyncClient, database: Database
) -> None:
    status, field, reason = refusal(await invite(client, CSAT))
    assert (status, field) == (422, ["body", "recipient", "platform_id"])
    assert "send them a link" in reason
    assert await outbox(database) == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"survey": "nope", "recipient": TO_CUSTOMER}, ["body", "survey"], "no survey 'nope'"),
        (
            {"survey": "csat", "recipient": {"channel": "fax", "platform_id": "1"}},
            ["body", "recipient", "channel"],
            "no channel 'fax'",
        ),
        ({"survey": "csat", "recipient": {"person_id": 999}}, ["body", "recipient", "person_id"], "no person"),
    ],
    ids=["unknown survey", "unknown channel", "unknown person"],
)
async def test_an_unknown_survey_or_recipient_is_422_with_the_reason(
    client: httpx.AsyncClient, database: Database, body: dict[str, Any], field: list[str], words: str
) -> None:
    await known_person(database)
    status, location, reason = refusal(await invite(client, body))
    assert (status, location) == (422, field)
    assert words in reason
    assert await outbox(database) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipient": TO_CUSTOMER}, ["body", "survey"]),
        ({"survey": "csat"}, ["body", "recipient"]),
        ({**CSAT, "attributes": {"region": 3}}, ["body", "attributes", "region"]),
        ({**CSAT, "attributes": {"odd name": "x"}}, ["body", "attributes", "odd name", "[key]"]),
        ({**CSAT, "reference": "x" * 129}, ["body", "reference"]),
        ({**CSAT, "colour": "blue"}, ["body", "colour"]),
    ],
    ids=[
        "no survey",
        "no recipient",
        "attribute not text",
        "attribute name not a word",
        "reference too long",
        "unknown field",
    ],
)
async def test_a_bad_request_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: list[str]
) -> None:
    response = await invite(client, body)
    assert response.status_code == 422
    assert field in [problem["loc"] for problem in response.json()["detail"]]


@pytest.mark.parametrize(
    ("opted_out", "unreachable", "reason"),
    [(True, False, "opted out of surveys"), (False, True, "unreachable: the platform refuses delivery")],
    ids=["opted out", "blocked the bot"],
)
async def test_a_person_who_opted_out_or_blocked_the_bot_is_skipped_with_the_reason_and_gets_no_message(
    client: httpx.AsyncClient,
    channels: Channels,
    database: Database,
    fake_telegram: FakeTelegram,
    opted_out: bool,
    unreachable: bool,
    reason: str,
) -> None:
    await known_person(database)
    async with database.transaction() as session:
        person = await queries.get_person(session, channel="telegram", platform_id=str(CUSTOMER))
        assert person is not None
        person.opted_out, person.unreachable = opted_out, unreachable
    response = await invite(client, CSAT)
    assert (response.status_code, response.json()["state"]) == (201, "skipped")
    assert response.json()["reason"].startswith(reason)
    assert await channels.dispatcher.run_once() == 0
    assert fake_telegram.sent_messages(CUSTOMER) == []


async def test_a_person_who_opts_out_before_the_message_goes_out_is_skipped_and_gets_nothing(
    client: httpx.AsyncClient, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    await known_person(database)
    location = (await invite(client, CSAT)).headers["Location"]
    async with database.transaction() as session:
        person = await queries.get_person(session, channel="telegram", platform_id=str(CUSTOMER))
        assert person is not None
        person.opted_out = True
    await channels.dispatcher.run_once()
    assert fake_telegram.sent_messages(CUSTOMER) == []
    invitation = (await client.get(location, headers=CRM)).json()
    assert (invitation["state"], invitation["reason"]) == ("skipped", "opted out of surveys")


async def test_a_person_forgotten_before_the_message_goes_out_gets_nothing(
    client: httpx.AsyncClient, core: Core, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    await known_person(database)
    location = (await invite(client, CSAT)).headers["Location"]
    await core.engine.handle(Forget(Respondent("telegram", str(CUSTOMER)), "forget-1"))
    await channels.dispatcher.run_once()
    assert fake_telegram.sent_messages(CUSTOMER) == []
    assert (await client.get(location, headers=CRM)).json()["state"] == "skipped"


async def test_a_person_who_blocked_the_bot_since_makes_the_invitation_fail_and_is_marked_unreachable(
    client: httpx.AsyncClient, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    await known_person(database)
    location = (await invite(client, CSAT)).headers["Location"]
    fake_telegram.block_user(CUSTOMER)
    await channels.dispatcher.run_once()
    assert (await client.get(location, headers=CRM)).json()["state"] == "failed"
    assert (await invite(client, CSAT)).json()["state"] == "skipped"


async def test_a_retried_request_with_its_idempotency_key_invites_once(
    client: httpx.AsyncClient, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    await known_person(database)
    first = await invite(client, CSAT, **{"Idempotency-Key": "order-123-csat"})
    again = await invite(client, CSAT, **{"Idempotency-Key": "order-123-csat"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    await channels.dispatcher.run_once()
    await invite(client, CSAT, **{"Idempotency-Key": "order-123-csat"})  # after it was sent too
    await channels.dispatcher.run_once()
    assert len(await outbox(database)) == 1
    assert len(fake_telegram.calls_of("sendMessage")) == 1


async def test_an_idempotency_key_reused_for_another_request_is_422_and_invites_nobody(
    client: httpx.AsyncClient, database: Database
) -> None:
    await known_person(database)
    await invite(client, CSAT, **{"Idempotency-Key": "k-1"})
    status, field, reason = refusal(
        await invite(client, {**CSAT, "reference": "ORDER124"}, **{"Idempotency-Key": "k-1"})
    )
    assert (status, field) == (422, ["header", "Idempotency-Key"])
    assert "another request" in reason
    assert len(await outbox(database)) == 1


async def test_idempotency_keys_belong_to_their_api_key(client: httpx.AsyncClient, database: Database) -> None:
    await known_person(database)
    crm = await invite(client, CSAT, **{"Idempotency-Key": "k-1"})
    shop = await client.post("/api/v1/invitations", json=CSAT, headers=SHOP | {"Idempotency-Key": "k-1"})
    assert crm.json()["id"] != shop.json()["id"]


async def test_each_invitation_is_audited_under_the_name_of_its_api_key(
    client: httpx.AsyncClient, database: Database
) -> None:
    await known_person(database)
    crm = (await invite(client, CSAT)).json()
    shop = (await client.post("/api/v1/invitations", json=CSAT, headers=SHOP)).json()
    async with database.snapshot() as session:
        lines = await audit_log(session)
        rows = list(await session.exec(select(AuditEntry)))
    assert [(line.actor, line.counts) for line in lines] == [("api:crm", {"invited": 1}), ("api:shop", {"invited": 1})]
    assert [row.subject for row in rows] == [f"invitation {crm['id']}", f"invitation {shop['id']}"]


async def test_an_unknown_invitation_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/invitations/4242", headers=CRM)).status_code == 404


async def test_an_invitation_whose_message_keeps_failing_is_failed_when_the_outbox_gives_up(
    client: httpx.AsyncClient, database: Database, clock: Clock
) -> None:
    await known_person(database)
    location = (await invite(client, CSAT)).headers["Location"]

    async def platform_down(_: OutboundMessage) -> SendResult:
        return RetryLater("502 Bad Gateway")

    dispatcher = Dispatcher(database, {"telegram": platform_down}, clock=clock)
    for _ in range(MAX_ATTEMPTS):
        assert (await client.get(location, headers=CRM)).json()["state"] == "invited"
        await dispatcher.run_once()
        clock.advance(hours=1)
    invitation = (await client.get(location, headers=CRM)).json()
    assert (invitation["state"], invitation["reason"]) == ("failed", "502 Bad Gateway")


async def test_an_invitation_that_failed_to_go_out_is_sent_once_on_the_retry_telegram(
    client: httpx.AsyncClient,
    channels: Channels,
    database: Database,
    fake_telegram: FakeTelegram,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "FIRST_BACKOFF", 0)  # the sender's own retries, at once
    await known_person(database)
    location = (await invite(client, CSAT)).headers["Location"]
    fake_telegram.fail("sendMessage", status=502, times=delivery.ATTEMPTS)  # every attempt of the sender's
    await channels.dispatcher.run_once()
    assert (await client.get(location, headers=CRM)).json()["state"] == "invited"
    clock.advance(minutes=1)
    assert await channels.dispatcher.run_once() == 1
    assert (await client.get(location, headers=CRM)).json()["state"] == "sent"
    assert len(fake_telegram.sent_messages(CUSTOMER)) == 1


async def test_an_invitation_that_failed_to_go_out_is_sent_once_on_the_retry_slack(
    client: httpx.AsyncClient, channels: Channels, fake_slack: FakeSlack, clock: Clock
) -> None:
    body = {"survey": "internal-service", "recipient": {"channel": "slack", "platform_id": EMPLOYEE}}
    location = (await invite(client, body)).headers["Location"]
    fake_slack.fail("chat.postMessage", "fatal_error")
    await channels.dispatcher.run_once()
    assert (await client.get(location, headers=CRM)).json()["state"] == "invited"
    clock.advance(minutes=1)
    assert await channels.dispatcher.run_once() == 1
    assert (await client.get(location, headers=CRM)).json()["state"] == "sent"
    assert len(fake_slack.messages(EMPLOYEE)) == 1


async def test_a_slack_member_who_cannot_be_reached_makes_the_invitation_fail(
    client: httpx.AsyncClient, channels: Channels, fake_slack: FakeSlack
) -> None:
    body = {"survey": "internal-service", "recipient": {"channel": "slack", "platform_id": EMPLOYEE}}
    location = (await invite(client, body)).headers["Location"]
    fake_slack.fail("chat.postMessage", "user_not_found")
    await channels.dispatcher.run_once()
    invitation = (await client.get(location, headers=CRM)).json()
    assert (invitation["state"], invitation["reason"]) == ("failed", "user_not_found")


async def test_a_person_invited_within_recontact_days_is_skipped_with_the_rule_and_gets_one_message(
    client: httpx.AsyncClient, core: Core, channels: Channels, database: Database, fake_telegram: FakeTelegram
) -> None:
    core.invitations.rules = InvitationSettings(recontact_days=30)
    await known_person(database)
    first = await invite(client, CSAT)
    again = await invite(client, {**CSAT, "reference": "ORDER124"})
    assert (first.json()["state"], again.json()["state"]) == ("invited", "skipped")
    assert again.json()["reason"] == "recontact_days: invited to csat in the last 30 days"
    await channels.dispatcher.run_once()
    assert len(fake_telegram.sent_messages(CUSTOMER)) == 1
