"""Outbound webhooks in the core: their settings, and each event written to the outbox with the change it reports,
once per webhook subscribed to it, holding a person's words only for a webhook that asks for them."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bot.cases import CaseDesk, Cases
from bot.config import ConfigError, WebhookSettings, load_settings, unknown_variables
from bot.engine import Engine
from bot.events import Forget, StartSurvey
from bot.outbound import EventType, Kind, WebhookEvent, decode
from bot.webhooks import Webhooks, signature
from storage.db import Database
from storage.models import OutboxMessage
from storage.webhooks import WEBHOOK_EVENT
from tests.bot.customer import Customer
from tests.conftest import Clock, database_dump

CRM = WebhookSettings(
    url="https://crm.example.com/hooks",
    secret=SecretStr("crm-webhook-secret"),
    events=[EventType.RESPONSE_COMPLETED, EventType.CASE_OPENED, EventType.CASE_RESOLVED, EventType.CASE_CLOSED],
)
# A second receiver, trusted with the customers' words, hearing of cases only.
HELPDESK = WebhookSettings(
    url="http://helpdesk.internal:8000/feedback",
    secret=SecretStr("helpdesk-webhook-secret"),
    events=[EventType.CASE_OPENED],
    include_text=True,
)


@pytest.fixture
def desk() -> CaseDesk:
    return CaseDesk(webhooks=Webhooks({"crm": CRM, "helpdesk": HELPDESK}))


async def webhook_events(database: Database) -> list[tuple[str, WebhookEvent]]:
    """The webhook events in the outbox, in the order written, with the outbox channel of each."""
    async with database.snapshot() as session:
        rows = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "webhook_event"))
        stored = [(row.channel, decode(row.payload)) for row in sorted(rows, key=lambda row: row.id or 0)]
    return [(channel, event) for channel, event in stored if isinstance(event, WebhookEvent)]


async def test_a_survey_and_its_case_are_told_to_each_webhook_subscribed_in_their_transaction(
    engine: Engine, database: Database, clock: Clock
) -> None:
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER-9")
    await customer.say("1")
    await customer.say("The courier threw my parcel over the fence")
    events = await webhook_events(database)
    assert [(channel, event.type) for channel, event in events] == [
        ("webhook:crm", EventType.CASE_OPENED),
        ("webhook:helpdesk", EventType.CASE_OPENED),
        ("webhook:crm", EventType.RESPONSE_COMPLETED),
    ]
    (_, opened), (_, opened_for_helpdesk), (_, completed) = events
    assert opened.event_id == opened_for_helpdesk.event_id != completed.event_id  # one event, one id
    assert opened.created_at == completed.created_at == clock.now
    assert opened.data["case"] == 1 and opened.data["status"] == "new" and opened.data["priority"] == "high"
    assert (opened.data["survey"], opened.data["reference"], opened.data["reasons"]) == (
        "csat",
        "ORDER-9",
        ["low_score"],
    )
    assert "text" not in opened.data  # the crm is not trusted with the customer's words
    assert opened_for_helpdesk.data["text"] is None  # the score opened the case; the words came after
    answers: Any = completed.data["answers"]
    assert [(a["question"], a["value"], a["sentiment"] is not None) for a in answers] == [
        ("satisfaction", 1, False),
        ("what_went_wrong", None, True),
    ]
    assert completed.data["case"] == 1 and completed.data["reference"] == "ORDER-9"
    assert completed.data["person_id"] is not None and completed.data["completed_at"] == clock.now.isoformat()
    assert "The courier" not in json.dumps([event.data for _, event in events])


TRUSTED = CaseDesk(webhooks=Webhooks({"helpdesk": HELPDESK.model_copy(update={"events": list(EventType)})}))


@pytest.mark.parametrize("desk", [TRUSTED])
async def test_a_webhook_with_include_text_gets_the_free_text_answers(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("4")
    await customer.say("Faster delivery, please")
    [(_, completed)] = await webhook_events(database)
    answers: Any = completed.data["answers"]
    assert [(a["question"], a["text"]) for a in answers] == [
        ("satisfaction", None),
        ("comment", "Faster delivery, please"),
    ]


@pytest.mark.parametrize("desk", [TRUSTED])
async def test_a_forgotten_person_is_erased_from_the_webhook_events_sent_or_not(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER-9")
    await customer.say("1")
    await customer.say("The courier was rude to me")
    await customer.send(Forget)
    events = [event for _, event in await webhook_events(database)]
    assert [event.type for event in events] == [EventType.CASE_OPENED, EventType.RESPONSE_COMPLETED]
    for event in events:
        assert (event.data["person_id"], event.data["reference"]) == (None, None)
    answers: Any = events[1].data["answers"]
    assert [(answer["value"], answer["text"]) for answer in answers] == [(1, None), (None, None)]  # scores stay
    assert "courier" not in await database_dump(database)
    assert WEBHOOK_EVENT == Kind.WEBHOOK_EVENT


async def test_an_anonymous_response_names_neither_its_person_nor_its_reference(
    engine: Engine, database: Database
) -> None:
    customer = Customer(engine)
    await engine.handle(StartSurvey(customer.who, "start-anonymous", "csat", "ORDER-9", anonymous=True))
    await customer.say("1")
    await customer.say("Late again")
    completed = [event for _, event in await webhook_events(database) if event.type == EventType.RESPONSE_COMPLETED]
    opened = [event for _, event in await webhook_events(database) if event.type == EventType.CASE_OPENED]
    for event in [*completed, *opened]:
        assert (event.data["person_id"], event.data["reference"]) == (None, None)
        assert "alice" not in json.dumps(event.data)
    assert completed[0].data["anonymous"] is True


async def test_resolving_and_closing_a_case_are_told_with_the_outcome(
    engine: Engine, database: Database, clock: Clock, desk: CaseDesk
) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("2")
    cases = Cases(database, desk, clock)
    clock.advance(hours=2)
    resolved_at = clock.now
    await cases.resolve(1, "U-STAFF", corrective_action="Refunded the order", root_cause="process", message=None)
    clock.advance(hours=1)
    await cases.customer_answer(1, "test", "alice", resolved=True)
    told = [(channel, event) for channel, event in await webhook_events(database) if event.type != "case.opened"]
    assert [(channel, event.type, event.data["status"]) for channel, event in told] == [
        ("webhook:crm", EventType.CASE_RESOLVED, "resolved"),
        ("webhook:crm", EventType.CASE_CLOSED, "closed"),
    ]
    (_, resolved), (_, closed) = told
    assert (resolved.data["root_cause"], resolved.data["corrective_action"]) == ("process", "Refunded the order")
    assert (resolved.created_at, resolved.data["resolved_at"]) == (resolved_at, resolved_at.isoformat())
    assert closed.data["closed_at"] == clock.now.isoformat()


async def test_a_redelivered_event_tells_the_webhooks_once(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("5")
    await customer.say("All good", event_id="last-answer")
    again = await customer.say("All good", event_id="last-answer")  # the platform delivers it again
    assert again.duplicate
    assert [event.type for _, event in await webhook_events(database)] == [EventType.RESPONSE_COMPLETED]


async def test_a_change_rolled_back_tells_nobody(database: Database, clock: Clock) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            Webhooks({"crm": CRM}).announce(session, EventType.CASE_OPENED, clock.now, lambda _: {"case": 1})
            raise RuntimeError("the case could not be stored")
    assert await webhook_events(database) == []


@pytest.mark.parametrize("desk", [CaseDesk()])
async def test_without_webhooks_configured_nothing_is_written_for_them(engine: Engine, database: Database) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("1")
    await customer.say("Broken")
    async with database.snapshot() as session:
        channels = set(await session.exec(select(OutboxMessage.channel)))
    assert not any(channel.startswith("webhook:") for channel in channels)


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    body = b'{"id":"e1","type":"case.opened"}'
    expected = hmac.new(b"s3cret", b"1764752400." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1764752400, body) == f"t=1764752400,v1={expected}"


WEBHOOK = '[webhooks.crm]\nurl = "https://crm.example.com/hooks"\nevents = ["case.opened", "case.closed"]\n'


def test_a_webhook_is_configured_in_the_file_with_its_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(WEBHOOK, encoding="utf-8")
    monkeypatch.setenv("FEEDBACKBOT_WEBHOOKS__CRM__SECRET", "from-the-environment")
    settings = load_settings(config)
    crm = settings.webhooks["crm"]
    assert (crm.url, crm.events, crm.include_text) == (
        "https://crm.example.com/hooks",
        [EventType.CASE_OPENED, EventType.CASE_CLOSED],
        False,
    )
    assert "from-the-environment" in settings.secret_values()  # redacted from every log line


def test_a_webhook_is_configured_wholly_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "FEEDBACKBOT_WEBHOOKS__HELPDESK__URL": "http://helpdesk.internal:8000/feedback",
        "FEEDBACKBOT_WEBHOOKS__HELPDESK__SECRET": "from-the-environment",
        "FEEDBACKBOT_WEBHOOKS__HELPDESK__EVENTS": "case.opened,case.resolved",
        "FEEDBACKBOT_WEBHOOKS__HELPDESK__INCLUDE_TEXT": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert unknown_variables(environment) == []
    helpdesk = load_settings(tmp_path / "absent.toml").webhooks["helpdesk"]
    assert (helpdesk.events, helpdesk.include_text) == ([EventType.CASE_OPENED, EventType.CASE_RESOLVED], True)


@pytest.mark.parametrize(
    ("written", "error"),
    [
        (WEBHOOK, "[webhooks] crm.secret (FEEDBACKBOT_WEBHOOKS__CRM__SECRET): Field required"),
        (
            WEBHOOK.replace("https://crm.example.com/hooks", "ftp://crm.example.com") + 'secret = "s"\n',
            "[webhooks] crm.url (FEEDBACKBOT_WEBHOOKS__CRM__URL): use an http:// or https:// URL",
        ),
        (
            WEBHOOK.replace('"case.closed"', '"case.deleted"') + 'secret = "s"\n',
            "[webhooks] crm.events.1 (FEEDBACKBOT_WEBHOOKS__CRM__EVENTS__1): Input should be",
        ),
        (
            'environment = "production"\n[privacy]\nhash_key = "k"\n' + WEBHOOK + 'secret = "change-me"\n',
            "[webhooks.crm] secret: placeholder secret; set the real one outside development",
        ),
    ],
    ids=["no secret", "not http", "unknown event", "placeholder secret in production"],
)
def test_a_bad_webhook_is_refused_naming_its_key(tmp_path: Path, written: str, error: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(written, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert error in str(refused.value)
