"""Campaigns in the core, on both engines: the recipients file's errors by line, a dry run that writes nothing, a
rerun that invites nobody twice, the fatigue rules (recontact, sampling, opted out, unreachable) and the paced
messages' place behind the others in the outbox."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.campaigns import (
    CampaignPlan,
    Campaigns,
    InvalidRow,
    Recipient,
    RecipientsError,
    Summary,
    campaign_funnel,
    read_recipients,
)
from bot.config import InvitationSettings, SurveyFatigue
from bot.engine import Engine
from bot.invitations import Invitations, ToPlatformUser
from bot.outbound import CaseAlert, OutboundMessage, SendResult, Sent, SurveyInvitation
from bot.outbox import Dispatcher, Pace, enqueue
from bot.prompts import QuestionPrompt
from storage import queries
from storage.campaigns import Funnel
from storage.db import Database
from storage.models import Invitation, OutboxMessage
from tests.bot.customer import Customer, question_of
from tests.conftest import Clock, database_dump

CUSTOMER_WORDS = "Mrs Pemberton of 12 Elm Street"


def campaigns(database: Database, engine: Engine, clock: Clock, **rules: object) -> Campaigns:
    settings = InvitationSettings.model_validate(rules)
    invitations = Invitations(database, engine, {"slack": True, "telegram": False}, clock, settings)
    return Campaigns(database, invitations, default_rate=20, clock=clock)


def slack_users(*numbers: int) -> list[Recipient]:
    return [Recipient(number + 1, f"slack:U{number}", ToPlatformUser("slack", f"U{number}")) for number in numbers]


def plan(name: str = "spring", survey: str = "nps", dry_run: bool = False) -> CampaignPlan:
    return CampaignPlan(name, survey, None, "customers.csv", "ops", dry_run)


async def invitation_count(database: Database) -> tuple[int, int]:
    """Invitations and outbox messages written."""
    async with database.snapshot() as session:
        invitations = (await session.exec(select(func.count()).select_from(Invitation))).one()
        messages = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    return invitations, messages


def test_the_recipients_files_errors_are_reported_by_line_without_their_words(tmp_path: Path) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(
        "channel,platform_id,reference,region,note\n"
        "slack,U1,ORDER1,north,\n"
        f"slack,,ORDER2,north,{CUSTOMER_WORDS}\n"
        "\n"
        f"slack,U1,ORDER3,south,{CUSTOMER_WORDS}\n"
        f"slack,U4,ORDER4,{'x' * 300},{CUSTOMER_WORDS}\n"
        "slack,U5\n"
        "telegram,42,,east,\n"
        f"telegram,{'9' * 120},,east,\n",  # a key the invitation cannot hold: refused here, not failing every run
        encoding="utf-8",
    )
    recipients, invalid = read_recipients(file)
    assert [(recipient.line, recipient.key) for recipient in recipients] == [(2, "slack:U1"), (8, "telegram:42")]
    assert recipients[0].attributes == {"region": "north"}  # an empty cell is no attribute
    assert invalid == [
        InvalidRow(3, "platform_id is empty"),
        InvalidRow(5, "the same recipient as line 2"),
        InvalidRow(6, "region is longer than 256 characters"),
        InvalidRow(7, "2 cells, but the header names 5 columns"),
        InvalidRow(9, "channel:platform_id is longer than 128 characters"),
    ]
    assert [row for row in invalid if "Pemberton" in row.problem or "ORDER" in row.problem] == []


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("reference,region", "the first line must name the columns"),
        ("channel,reference", "a channel column needs a platform_id column"),
        ("channel,platform_id,region,region", "columns named twice: region"),
        ("channel,platform_id,home address", "attribute columns are named with letters, digits, - and _ only"),
    ],
)
def test_a_recipients_file_without_the_recipient_columns_is_refused_whole(
    tmp_path: Path, header: str, problem: str
) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(RecipientsError, match=problem):
        read_recipients(file)


async def test_a_dry_run_writes_nothing_and_tells_what_would_happen(
    database: Database, engine: Engine, clock: Clock
) -> None:
    async with database.transaction() as session:
        person = await queries.get_or_create_person(session, channel="slack", platform_id="U3", language="en")
        person.opted_out = True
    before = await database_dump(database)
    summary = await campaigns(database, engine, clock).run(plan(dry_run=True), slack_users(1, 2, 3))
    assert summary == Summary(invited=2, skipped=Counter({"opted out of surveys": 1}))
    assert await database_dump(database) == before


async def test_a_rerun_invites_nobody_twice_and_writes_the_rest_timed_after_the_first_runs(
    database: Database, engine: Engine, clock: Clock
) -> None:
    sender = campaigns(database, engine, clock)
    first = await sender.run(plan(), slack_users(*range(10)))  # as far as a crashed run got
    again = await sender.run(plan(), slack_users(*range(25)))
    assert (first.invited, again.invited, again.already) == (10, 15, 10)
    assert await invitation_count(database) == (25, 25)
    async with database.snapshot() as session:
        times = list(await session.exec(select(OutboxMessage.next_attempt_at).order_by(col(OutboxMessage.id))))
    assert times == sorted(times) and len(set(times)) == 25  # one slot each, 1/20 s apart, the rerun's after
    shown = await campaign_funnel(database, "spring")
    assert shown is not None and (shown[1].invited, shown[1].waiting, shown[1].skipped) == (25, 25, {})


async def test_recipients_a_concurrent_run_wrote_after_this_one_looked_are_counted_not_invited_twice(
    database: Database, engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = campaigns(database, engine, clock)
    await sender.run(plan(), slack_users(*range(3)))

    async def looked_before_they_were_written(_campaign: object) -> set[str]:
        return set()  # the race cannot be timed here: this run read the written recipients before the other wrote

    monkeypatch.setattr(sender, "_written", looked_before_they_were_written)
    again = await sender.run(plan(), slack_users(*range(5)))
    assert (again.invited, again.already, again.failed) == (2, 3, [])
    assert await invitation_count(database) == (5, 5)


async def test_a_campaigns_name_belongs_to_its_survey(database: Database, engine: Engine, clock: Clock) -> None:
    sender = campaigns(database, engine, clock)
    await sender.run(plan(), slack_users(1))
    with pytest.raises(Exception, match="sends the survey 'nps'; choose another name"):
        await sender.run(plan(survey="csat"), slack_users(1))


async def test_nobody_is_invited_again_within_recontact_days_to_the_survey_or_overall(
    database: Database, engine: Engine, clock: Clock
) -> None:
    sender = campaigns(database, engine, clock, recontact_days=30, overall_recontact_days=7)
    await sender.run(plan("first"), slack_users(1, 2))
    again = await sender.run(plan("second"), slack_users(1, 3))
    other = await sender.run(plan("csat", survey="csat"), slack_users(1, 3))
    assert (again.invited, dict(again.skipped)) == (1, {"recontact_days: invited to nps in the last 30 days": 1})
    assert (other.invited, dict(other.skipped)) == (
        0,
        {"overall_recontact_days: invited to a survey in the last 7 days": 2},
    )
    clock.advance(days=8)
    assert (await sender.run(plan("csat later", survey="csat"), slack_users(1))).invited == 1
    clock.advance(days=23)
    assert (await sender.run(plan("third"), slack_users(1, 2))).invited == 2


async def test_a_surveys_own_rules_override_the_general_ones(database: Database, engine: Engine, clock: Clock) -> None:
    sender = campaigns(database, engine, clock, recontact_days=30, surveys={"csat": SurveyFatigue(recontact_days=0)})
    await sender.run(plan("csat 1", survey="csat"), slack_users(1))
    assert (await sender.run(plan("csat 2", survey="csat"), slack_users(1))).invited == 1


async def test_sampling_skips_a_share_of_the_people_the_same_ones_on_a_rerun(
    database: Database, engine: Engine, clock: Clock
) -> None:
    sender = campaigns(database, engine, clock, sample_percent=30)
    people = slack_users(*range(200))
    tried = await sender.run(plan(dry_run=True), people)
    sent = await sender.run(plan(), people)
    assert 40 <= sent.invited <= 80
    assert tried == sent and sent.skipped == {"sample_percent: not in the 30% sample": 200 - sent.invited}
    assert (await sender.run(plan(), people)).already == 200


async def test_opted_out_and_unreachable_people_are_skipped_and_counted(
    database: Database, engine: Engine, clock: Clock
) -> None:
    async with database.transaction() as session:
        for platform_id in ("U1", "U2"):
            await queries.get_or_create_person(session, channel="slack", platform_id=platform_id, language="en")
        await queries.set_reachable(session, channel="slack", platform_id="U2", reachable=False)
    async with database.transaction() as session:
        person = await queries.get_person(session, channel="slack", platform_id="U1")
        assert person is not None
        person.opted_out = True
    telegram_stranger = Recipient(9, "telegram:42", ToPlatformUser("telegram", "42"))
    summary = await campaigns(database, engine, clock).run(plan(), [*slack_users(1, 2, 3), telegram_stranger])
    assert summary.invited == 1
    assert summary.skipped == {"opted out of surveys": 1}
    assert summary.unreachable == {
        "unreachable: the platform refuses delivery (the person blocked the bot)": 1,
        "unreachable: never wrote to the bot; send them a link": 1,
    }


async def test_a_campaigns_messages_wait_behind_the_case_messages_due(database: Database, clock: Clock) -> None:
    async with database.transaction() as session:
        for number in range(3):
            message = SurveyInvitation(invitation_id=number + 1, platform_id=f"U{number}")
            enqueue(session, channel="slack", message=message, now=clock(), pace=Pace(clock(), 0.001))
        enqueue(session, channel="slack", message=CaseAlert(case_id=7, target="CSTAFF"), now=clock())
    sent: list[str] = []

    async def send(message: OutboundMessage) -> SendResult:
        sent.append(message.kind)
        return Sent()

    await Dispatcher(database, {"slack": send}, clock=clock).run_once()
    assert sent == ["case_alert", "survey_invitation", "survey_invitation", "survey_invitation"]


async def test_the_funnel_follows_the_invitations_to_their_answers(
    database: Database, engine: Engine, clock: Clock
) -> None:
    sender = campaigns(database, engine, clock)
    await sender.run(plan(), slack_users(0, 1, 2))
    openings: dict[str, QuestionPrompt | None] = {}

    async def send(message: OutboundMessage) -> SendResult:  # as a channel's send: opens the survey
        assert isinstance(message, SurveyInvitation)
        opening = await sender.invitations.opening(message, "slack")
        assert opening is not None
        openings[message.platform_id] = question_of(opening.reply)
        return Sent()

    clock.advance(seconds=1)  # every message's send time has come
    await Dispatcher(database, {"slack": send}, clock=clock).run_once()
    completing, starting = Customer(engine, "U0", "slack"), Customer(engine, "U1", "slack")
    await completing.press("9", openings["U0"])
    await completing.say("Quick and friendly")
    await starting.press("3", openings["U1"])
    shown = await campaign_funnel(database, "spring")
    assert shown is not None
    assert shown[1] == Funnel(skipped={}, waiting=0, delivered=3, failed=0, started=2, completed=1)
