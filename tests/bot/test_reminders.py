"""Reminders of invited surveys under a clock the test moves, on both engines: one after the delay and not before,
held through the person's quiet hours, none for a finished, expired or opted-out survey, two spaced when the count
says two, and one only when two processes sweep at once on PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import select

from bot.config import ConfigError, InvitationSettings, ReminderSettings, load_settings
from bot.engine import Engine
from bot.events import Forget, OptOut, Respondent, StartSurvey
from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.links import LinkRequest, Links
from bot.outbound import OutboundMessage, Refused, SendResult, Sent, SurveyInvitation, SurveyReminder
from bot.outbox import Dispatcher
from bot.prompts import Notice, QuestionPrompt
from bot.reminders import Reminders
from storage import reminders as stored
from storage.db import Database
from storage.models import OutboxMessage
from tests.bot.customer import Customer
from tests.conftest import Clock

CHANNEL = "slack"  # a channel that may write first, so people are invited without starting the bot
REMINDER = "A reminder: your survey is still open, and we would be glad of your answers."


@dataclass
class People:
    """The reminders people received, as the channel would show them: the notice's text and the question's id."""

    received: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def of(self, platform_id: str) -> list[tuple[str, str]]:
        return self.received.get(platform_id, [])


@dataclass
class World:
    """Invitations sent through the outbox to a channel that keeps what it was given, and the reminders' sweep."""

    database: Database
    engine: Engine
    clock: Clock
    invitations: Invitations
    reminders: Reminders
    people: People
    invited: dict[str, int] = field(default_factory=dict)  # invitation ids by platform id

    async def invite(self, platform_id: str, survey: str = "csat") -> Customer:
        """Invites the person and sends the invitation: their survey is open at its first question."""
        request = InvitationRequest(survey, ToPlatformUser(CHANNEL, platform_id))
        invited = await self.invitations.invite(request, api_key="crm", idempotency_key=None)
        self.invited[platform_id] = invited.invitation.id
        await self.dispatch()
        return Customer(self.engine, user_id=platform_id, channel=CHANNEL)

    async def dispatch(self) -> None:
        dispatcher = Dispatcher(self.database, {CHANNEL: self.send}, clock=self.clock)
        while await dispatcher.run_once():
            pass

    async def send(self, message: OutboundMessage) -> SendResult:
        if isinstance(message, SurveyInvitation):
            opening = await self.invitations.opening(message, CHANNEL)
            return Refused("not to send") if opening is None else Sent()
        assert isinstance(message, SurveyReminder)
        reminder = await self.reminders.reminder(message, CHANNEL)
        if reminder is None:
            return Refused("nothing to remind of")
        notice, question = reminder.reply.prompts
        assert isinstance(notice, Notice) and isinstance(question, QuestionPrompt)
        self.people.received.setdefault(message.platform_id, []).append((notice.text, question.question_id))
        return Sent()

    async def sweep_at(self, **delta: float) -> int:
        """Moves the clock on, runs the sweep (expiry, then reminders) and sends what it queued."""
        self.clock.advance(**delta)
        await self.engine.conversations.expire_overdue()
        queued = await self.reminders.sweep()
        await self.dispatch()
        return queued


def make_world(database: Database, engine: Engine, clock: Clock, **settings: object) -> World:
    invitations = Invitations(database, engine, {CHANNEL: True}, clock)
    reminder_settings = ReminderSettings.model_validate({"quiet_hours": "off", **settings})
    reminders = Reminders(database, reminder_settings, engine.catalogue, engine.conversations, clock)
    return World(database, engine, clock, invitations, reminders, People())


@pytest.fixture
def world(database: Database, engine: Engine, clock: Clock) -> World:
    return make_world(database, engine, clock)


async def test_one_reminder_after_the_delay_and_not_before(world: World) -> None:
    await world.invite("U1")
    assert await world.sweep_at(hours=23, minutes=59) == 0
    assert world.people.of("U1") == []

    assert await world.sweep_at(minutes=1) == 1
    assert world.people.of("U1") == [(REMINDER, "satisfaction")]

    for _ in range(3):
        assert await world.sweep_at(hours=12) == 0
    assert len(world.people.of("U1")) == 1


async def test_nobody_who_opened_a_survey_by_a_link_is_reminded(world: World) -> None:
    # Scanning a receipt's QR code is not being invited: the person came by themselves and chose to stop.
    links = Links(world.database, world.engine.catalogue, b"hash-key", lambda token: None, world.clock)
    made = await links.create(LinkRequest("csat", "ORDER1"), created_by="shop")
    await world.engine.handle(
        StartSurvey(Respondent(CHANNEL, "U9", "en"), "start-1", "csat", "ORDER1", link_id=made.id)
    )
    await world.invite("U1")

    assert await world.sweep_at(hours=25) == 1
    assert (world.people.of("U9"), len(world.people.of("U1"))) == ([], 1)


async def test_reminders_are_paced_behind_the_messages_to_staff_and_people_answering(world: World) -> None:
    # Quiet hours ending release a whole evening's reminders at once.
    await world.invite("U1")
    world.clock.advance(hours=25)
    assert await world.reminders.sweep() == 1
    async with world.database.snapshot() as session:
        [reminder] = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "survey_reminder"))
    assert reminder.pace_seconds == 1 / InvitationSettings().campaign_rate


async def test_a_started_survey_is_reminded_at_its_current_question_after_the_last_answer(world: World) -> None:
    customer = await world.invite("U1")
    world.clock.advance(hours=10)
    await customer.start("csat")  # the invitation's survey, resumed: its question is shown again
    await customer.press("4")
    assert await world.sweep_at(hours=14) == 0  # 24 h after the invitation, but 14 h after the answer
    assert await world.sweep_at(hours=10) == 1
    assert world.people.of("U1") == [(REMINDER, "comment")]


async def test_no_reminder_for_a_finished_survey_nor_a_person_who_opted_out_or_was_forgotten(world: World) -> None:
    finished = await world.invite("U-FINISHED")
    await finished.start("csat")
    await finished.press("5")
    await finished.say("All good")
    opted_out = await world.invite("U-OPTED-OUT")
    await opted_out.send(OptOut)
    forgotten = await world.invite("U-FORGOTTEN")
    await forgotten.send(Forget)

    assert await world.sweep_at(hours=24) == 0
    assert world.people.received == {}


async def test_an_expired_survey_is_reminded_no_more_and_reads_partial(
    database: Database, engine: Engine, clock: Clock
) -> None:
    world = make_world(database, engine, clock, count=2)
    await world.invite("U1")
    assert await world.sweep_at(hours=24) == 1
    assert await world.sweep_at(hours=49) == 0  # the second was due at 48 h, but csat expires after 72 h
    assert len(world.people.of("U1")) == 1
    view = await world.invitations.get(world.invited["U1"])
    assert view is not None and view.state == "partial"


async def test_a_reminder_queued_before_the_survey_was_answered_to_its_end_is_not_sent(world: World) -> None:
    customer = await world.invite("U1")
    world.clock.advance(hours=24)
    assert await world.reminders.sweep() == 1
    await customer.start("csat")
    await customer.press("5")
    await customer.say("Nothing")
    await world.dispatch()
    assert world.people.received == {}


async def test_a_count_of_two_sends_two_reminders_a_delay_apart(
    database: Database, engine: Engine, clock: Clock
) -> None:
    world = make_world(database, engine, clock, count=2)
    await world.invite("U1", survey="nps")  # open for a week
    assert [await world.sweep_at(hours=24), await world.sweep_at(hours=23), await world.sweep_at(hours=1)] == [1, 0, 1]
    assert [await world.sweep_at(hours=24), await world.sweep_at(hours=24)] == [0, 0]
    assert len(world.people.of("U1")) == 2


async def test_a_reminder_waits_for_the_end_of_the_quiet_hours_in_the_persons_time_zone(
    database: Database, engine: Engine, clock: Clock
) -> None:
    world = make_world(database, engine, clock, quiet_hours="21:00-08:00", after_hours=13)
    await world.invite("U-TOKYO")  # at 09:00 UTC
    await world.invite("U-UNKNOWN")  # no time zone known: the default, UTC
    async with database.transaction() as session:
        await stored.set_timezone(session, channel=CHANNEL, platform_id="U-TOKYO", timezone="Asia/Tokyo")

    assert await world.sweep_at(hours=13) == 0  # 22:00 UTC, 07:00 in Tokyo: quiet for both
    assert await world.sweep_at(minutes=59) == 0  # 07:59 in Tokyo
    assert await world.sweep_at(minutes=1) == 1  # 08:00 in Tokyo, 23:00 in UTC
    assert (len(world.people.of("U-TOKYO")), len(world.people.of("U-UNKNOWN"))) == (1, 0)
    assert await world.sweep_at(hours=8, minutes=59) == 0  # 07:59 UTC
    assert await world.sweep_at(minutes=1) == 1  # 08:00 UTC
    assert len(world.people.of("U-UNKNOWN")) == 1


async def test_a_survey_may_set_its_own_delay(database: Database, engine: Engine, clock: Clock) -> None:
    catalogue = engine.catalogue
    survey = catalogue["csat"].model_copy(update={"reminder_after_hours": 2.0})
    world = make_world(database, engine, clock)
    world.reminders.catalogue = type(catalogue)({**catalogue, "csat": survey})
    await world.invite("U1")
    assert [await world.sweep_at(hours=1), await world.sweep_at(hours=1)] == [0, 1]


async def test_reminders_switched_off_send_none(database: Database, engine: Engine, clock: Clock) -> None:
    world = make_world(database, engine, clock, enabled=False)
    await world.invite("U1")
    assert await world.sweep_at(hours=48) == 0
    assert world.people.received == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_sweeping_at_once_remind_each_person_once(
    database_url: str, database: Database, engine: Engine, clock: Clock
) -> None:
    world = make_world(database, engine, clock)
    for number in range(40):
        await world.invite(f"U{number}")
    clock.advance(hours=24)
    other = Database(database_url)  # a second process: its own connections
    try:
        settings = world.reminders.settings
        second = Reminders(other, settings, engine.catalogue, engine.conversations, clock)
        counts = await asyncio.gather(world.reminders.sweep(), second.sweep(), world.reminders.sweep(), second.sweep())
    finally:
        await other.close()
    async with database.snapshot() as session:
        kinds = list(await session.exec(select(OutboxMessage.kind, OutboxMessage.payload)))
    reminders = [payload for kind, payload in kinds if kind == "survey_reminder"]
    assert sum(counts) == len(reminders) == len(set(reminders)) == 40


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("quiet_hours", "9pm-8am", 'write the quiet hours as "HH:MM-HH:MM"'),
        ("quiet_hours", "24:00-08:00", 'write the quiet hours as "HH:MM-HH:MM"'),
        ("default_timezone", "Mars/Olympus", "no time zone 'Mars/Olympus'"),
        ("count", "11", "less than or equal to 10"),
    ],
)
def test_a_bad_reminder_setting_stops_the_start_naming_the_key(
    tmp_path: Path, key: str, value: str, problem: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[reminders]\n{key} = "{value}"\n' if key != "count" else f"[reminders]\ncount = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "reminders" in str(raised.value) and key in str(raised.value) and problem in str(raised.value)


def test_quiet_hours_off_and_a_span_within_one_day(database: Database, engine: Engine, clock: Clock) -> None:
    noon = clock.now.replace(hour=12)
    off = make_world(database, engine, clock, quiet_hours="off").reminders
    lunch = make_world(database, engine, clock, quiet_hours="12:00-13:00").reminders
    assert not off.in_quiet_hours(noon, None)
    assert lunch.in_quiet_hours(noon, None) and not lunch.in_quiet_hours(noon.replace(hour=13), None)
    assert not lunch.in_quiet_hours(noon, "Europe/Madrid")  # 13:00 there
    assert lunch.in_quiet_hours(noon, "Not/A_Zone")  # an unknown zone: the default one
