"""Outbound webhooks delivered over real HTTP to a receiver that checks each signature as README.md tells operators
to: every event arrives signed, failures are retried with backoff, and one that fails for good is seen (a warning,
a metric, `feedbackbot webhooks failed`) and can be sent again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from bot.app import open_core
from bot.cases import CaseDesk, Cases
from bot.config import WebhookSettings, load_settings
from bot.engine import Engine
from bot.outbound import EventType, Outcome, SendCounts
from bot.outbox import LEASE, Dispatcher
from bot.webhooks import Webhooks
from handlers.cli import app
from handlers.metrics import Metrics
from handlers.registry import CHANNELS, Registration, settings_model
from handlers.runner import running_channels
from handlers.web import create_app
from handlers.webhooks import WEBHOOK_MAX_ATTEMPTS, WebhookSender
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus
from storage.types import utcnow
from tests.bot.customer import Customer
from tests.conftest import ROOT, Clock, free_port
from tests.handlers.memory import MemoryChannel, MemorySettings

SECRET = "whsec-shared-with-the-receiver"
TOLERANCE_SECONDS = 300  # README.md: refuse a delivery signed longer ago than this
PATH = "/hooks/feedbackbot-7f3a"  # a secret-looking path: it must not reach a log line either


def verified(secret: str, header: str, body: bytes) -> bool:
    """The check README.md gives operators, written out again here so that the test holds the documentation to it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= TOLERANCE_SECONDS and hmac.compare_digest(expected, fields["v1"])


@dataclass
class Receiver:
    """An operator's endpoint: checks the signature (400 when it does not verify), answers the statuses queued in
    `answers` first and 204 after; keeps every event it took in (`received`) and each event id once (`accepted`).
    With `hold` set, it takes the event in and waits for the hold to be released before answering."""

    secret: str = SECRET
    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    forged: int = 0
    hold: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        if not verified(self.secret, request.headers["Feedbackbot-Signature"], body):
            self.forged += 1
            return Response(status_code=400)
        if self.answers:
            return Response(status_code=self.answers.pop(0))
        event = json.loads(body)
        assert request.headers["Feedbackbot-Event-Id"] == event["id"]
        assert request.headers["Feedbackbot-Event"] == event["type"]
        assert request.headers["Content-Type"] == "application/json"
        self.received.append(event)
        self.accepted.setdefault(event["id"], event)  # a second delivery of an event id is dropped
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return Response(status_code=204)

    def types(self) -> list[str]:
        return [event["type"] for event in self.accepted.values()]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as served:
        yield served


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as served:
        yield served


@asynccontextmanager
async def serving_receiver() -> AsyncIterator[Receiver]:
    """A receiver, served by uvicorn on a free port of this machine."""
    receiver = Receiver()
    port = free_port()
    receiver.url = f"http://127.0.0.1:{port}{PATH}"
    served = Starlette(routes=[Route(PATH, receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(served, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn says it is listening by a flag only)
        await asyncio.sleep(0.01)
    yield receiver
    server.should_exit = True
    await serving


@pytest.fixture
def webhook(receiver: Receiver) -> WebhookSettings:
    return WebhookSettings(url=receiver.url, secret=SecretStr(SECRET), events=list(EventType))


@pytest.fixture
def desk(webhook: WebhookSettings) -> CaseDesk:
    return CaseDesk(webhooks=Webhooks({"crm": webhook}))


@pytest.fixture
async def sender(webhook: WebhookSettings) -> AsyncIterator[WebhookSender]:
    sender = WebhookSender({"crm": webhook})
    yield sender
    await sender.close()


@pytest.fixture
def counts() -> SendCounts:
    return SendCounts()


@pytest.fixture
def dispatcher(database: Database, sender: WebhookSender, clock: Clock, counts: SendCounts) -> Dispatcher:
    """The webhooks' dispatcher, as `feedbackbot run` builds it."""
    return Dispatcher(database, sender.senders(), clock=clock, counts=counts, max_attempts=WEBHOOK_MAX_ATTEMPTS)


async def complain(engine: Engine) -> None:
    """A customer completes the CSAT survey with the lowest score: a case opens, the response is complete."""
    customer = Customer(engine)
    await customer.start("csat", reference="ORDER-9")
    await customer.say("1")
    await customer.say("The parcel never arrived")


async def deliveries(database: Database) -> list[OutboxMessage]:
    async with database.snapshot() as session:
        return list(await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "webhook_event")))


@pytest.mark.every_database
async def test_each_event_reaches_the_receiver_signed_and_in_order(
    engine: Engine, database: Database, clock: Clock, desk: CaseDesk, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    await complain(engine)
    cases = Cases(database, desk, clock)
    await cases.resolve(1, "U-STAFF", corrective_action="Sent a new parcel", root_cause="supplier", message=None)
    await cases.customer_answer(1, "test", "alice", resolved=True)
    assert await dispatcher.run_once() == 4
    assert receiver.forged == 0
    assert receiver.types() == ["case.opened", "response.completed", "case.resolved", "case.closed"]
    opened, completed, resolved, closed = receiver.accepted.values()
    assert opened["data"]["case"] == completed["data"]["case"] == resolved["data"]["case"] == 1
    assert completed["data"]["reference"] == "ORDER-9" and completed["data"]["survey"] == "csat"
    assert resolved["data"]["corrective_action"] == "Sent a new parcel" and closed["data"]["status"] == "closed"
    assert "The parcel never arrived" not in json.dumps(receiver.received)  # no include_text: no words
    assert {row.status for row in await deliveries(database)} == {OutboxStatus.SENT}
    assert await dispatcher.run_once() == 0  # delivered once


async def test_a_5xx_is_tried_again_with_backoff_and_the_event_keeps_its_id(
    engine: Engine, database: Database, clock: Clock, dispatcher: Dispatcher, receiver: Receiver, counts: SendCounts
) -> None:
    customer = Customer(engine)
    await customer.start("csat")
    await customer.say("5")
    await customer.say("Fine as it is")
    receiver.answers = [500, 503]
    assert await dispatcher.run_once() == 0
    assert await dispatcher.run_once() == 0  # not yet due again: nothing sent
    assert receiver.answers == [503]
    clock.advance(seconds=2)
    assert await dispatcher.run_once() == 0
    clock.advance(seconds=3)
    assert await dispatcher.run_once() == 0  # the wait doubled: 4 s
    clock.advance(seconds=1)
    assert await dispatcher.run_once() == 1
    [event] = receiver.received
    [row] = await deliveries(database)
    assert (event["type"], row.status, row.attempts) == ("response.completed", OutboxStatus.SENT, 3)
    assert json.loads(row.payload)["event_id"] == event["id"]
    assert counts == {("webhook:crm", Outcome.RETRY_LATER): 2, ("webhook:crm", Outcome.SENT): 1}


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt_and_counted(
    engine: Engine,
    database: Database,
    clock: Clock,
    dispatcher: Dispatcher,
    receiver: Receiver,
    counts: SendCounts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customer = Customer(engine)
    await customer.start("nps")
    await customer.say("9")
    await customer.say("Nothing to add")
    receiver.answers = [502] * WEBHOOK_MAX_ATTEMPTS
    for _ in range(WEBHOOK_MAX_ATTEMPTS):
        await dispatcher.run_once()
        clock.advance(days=1)
    [row] = await deliveries(database)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, WEBHOOK_MAX_ATTEMPTS, "crm: HTTP 502")
    assert counts[("webhook:crm", Outcome.GIVEN_UP)] == 1
    assert "given up: crm: HTTP 502" in caplog.text
    assert receiver.received == []


async def test_a_refused_delivery_is_seen_and_sent_again_on_request(
    engine: Engine,
    database: Database,
    database_url: str,
    clock: Clock,
    dispatcher: Dispatcher,
    receiver: Receiver,
    counts: SendCounts,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.secret = "the receiver was given another secret"
    await complain(engine)
    assert await dispatcher.run_once() == 0
    assert receiver.forged == 2  # both events, refused with 400: not tried again
    assert {row.status for row in await deliveries(database)} == {OutboxStatus.FAILED}

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "outbox: webhook:crm message 1 refused for good: crm: HTTP 400",
        "outbox: webhook:crm message 2 refused for good: crm: HTTP 400",
    ]
    assert PATH not in caplog.text and SECRET not in caplog.text and "parcel" not in caplog.text
    metrics = create_app(database, metrics=Metrics(database, deliveries=counts))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=metrics), base_url="http://bot") as client:
        scraped = (await client.get("/metrics")).text
    assert 'feedbackbot_webhook_deliveries_total{outcome="refused",webhook="crm"} 2.0' in scraped

    monkeypatch.chdir(tmp_path)  # no config.toml: the environment names the database
    env = {"FEEDBACKBOT_STORAGE__URL": database_url}
    listed = await asyncio.to_thread(CliRunner().invoke, app, ["webhooks", "failed"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [["#1", "crm", "case.opened"], ["#2", "crm", "response.completed"]]
    assert all(line.endswith("1 attempts  crm: HTTP 400") for line in lines)

    receiver.secret = SECRET  # the operator fixed the receiver
    retried = await asyncio.to_thread(CliRunner().invoke, app, ["webhooks", "retry", "1", "2"], env=env)
    assert (retried.exit_code, retried.stdout) == (0, "2 webhook deliveries queued again\n")
    clock.now = utcnow()  # the command queued them due now, by the real clock
    assert await dispatcher.run_once() == 2
    assert receiver.types() == ["case.opened", "response.completed"]
    listed = await asyncio.to_thread(CliRunner().invoke, app, ["webhooks", "failed"], env=env)
    assert listed.stdout == "" and listed.stderr.endswith("no failed webhook deliveries\n")


async def test_a_dispatcher_killed_mid_delivery_loses_no_event_and_the_receiver_drops_the_repeat(
    engine: Engine,
    database_url: str,
    clock: Clock,
    sender: WebhookSender,
    receiver: Receiver,
) -> None:
    await complain(engine)
    receiver.hold = asyncio.Event()
    first_process = Database(database_url)
    killed = Dispatcher(first_process, sender.senders(), clock=clock)
    sending = asyncio.create_task(killed.run_once())
    await receiver.arrived.wait()  # the receiver took the first event in; the answer never reaches the sender
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    await first_process.close()
    receiver.hold.set()  # its request ends; the next delivery is answered at once
    receiver.hold = None

    clock.advance(seconds=LEASE.total_seconds() + 1)
    next_process = Database(database_url)
    try:
        counts = SendCounts()
        assert await Dispatcher(next_process, sender.senders(), clock=clock, counts=counts).run_once() == 2
    finally:
        await next_process.close()
    assert [event["type"] for event in receiver.received] == ["case.opened", "case.opened", "response.completed"]
    assert receiver.types() == ["case.opened", "response.completed"]  # by event id: the repeat is dropped
    # Both were claimed in one batch: for neither can the next dispatcher tell whether it went out.
    assert counts[("webhook:crm", Outcome.POSSIBLE_RESEND)] == 2


async def delivered(counts: SendCounts) -> None:
    """Returns once the dispatcher has recorded a delivery as sent."""
    while not counts[("webhook:crm", Outcome.SENT)]:  # noqa: ASYNC110  (a tally has no event to wait on)
        await asyncio.sleep(0.01)


REGISTRY = (*CHANNELS, Registration("memory", MemorySettings, MemoryChannel))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_feedbackbot_run_delivers_the_webhooks_configured_beside_the_channels(
    tmp_path: Path, database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "{database_url}"\n[surveys]\ndir = "{ROOT / "surveys"}"\n[memory]\nenabled = true\n'
        f'[webhooks.crm]\nurl = "{receiver.url}"\nevents = ["response.completed"]\ninclude_text = true\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FEEDBACKBOT_WEBHOOKS__CRM__SECRET", SECRET)
    core = await open_core(load_settings(config, model=settings_model(REGISTRY)))
    try:
        async with running_channels(core, REGISTRY) as channels:
            api = create_app(core.database, routes=[route for channel in channels for route in channel.routes()])
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
                for line in ("/survey csat", "4", "Wrap it better"):
                    await client.post("/memory/ann", content=line)
            await asyncio.wait_for(delivered(core.deliveries), timeout=10)
    finally:
        await core.close()
    [completed] = receiver.received
    assert completed["type"] == "response.completed"
    assert [answer.get("text") for answer in completed["data"]["answers"]] == [None, "Wrap it better"]
    assert core.deliveries == {("webhook:crm", Outcome.SENT): 1}


async def test_a_receiver_that_does_not_answer_holds_up_no_other_receivers_events(
    tmp_path: Path, database_url: str, receiver: Receiver, other_receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.hold = asyncio.Event()  # takes the event in and never answers while the test runs
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "{database_url}"\n[surveys]\ndir = "{ROOT / "surveys"}"\n[memory]\nenabled = true\n'
        f'[webhooks.crm]\nurl = "{receiver.url}"\nevents = ["response.completed"]\n'
        f'[webhooks.erp]\nurl = "{other_receiver.url}"\nevents = ["response.completed"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FEEDBACKBOT_WEBHOOKS__CRM__SECRET", SECRET)
    monkeypatch.setenv("FEEDBACKBOT_WEBHOOKS__ERP__SECRET", SECRET)
    core = await open_core(load_settings(config, model=settings_model(REGISTRY)))
    try:
        async with running_channels(core, REGISTRY) as channels:
            api = create_app(core.database, routes=[route for channel in channels for route in channel.routes()])
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
                for line in ("/survey csat", "4", "skip"):
                    await client.post("/memory/ann", content=line)
            await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
            await asyncio.wait_for(other_receiver.arrived.wait(), timeout=10)  # while crm's is still unanswered
    finally:
        receiver.hold.set()  # so that its server can stop
        await core.close()
    assert [event["type"] for event in other_receiver.received] == ["response.completed"]
