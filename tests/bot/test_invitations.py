"""Invitations in the core, on both engines: two calls with one idempotency key at the same moment invite once."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from bot.config import InvitationSettings, SurveyFatigue
from bot.engine import Engine
from bot.invitations import IdempotencyKeyReused, InvitationRequest, Invitations, ToPerson, ToPlatformUser
from storage.db import Database
from storage.models import OutboxMessage
from tests.conftest import Clock

REQUEST = InvitationRequest("csat", ToPlatformUser("slack", "U1"), "ORDER123", {"region": "north"})


@pytest.fixture
def invitations(database: Database, engine: Engine, clock: Clock) -> Invitations:
    return Invitations(database, engine, {"slack": True, "telegram": False}, clock)


async def outbox_rows(database: Database) -> int:
    async with database.snapshot() as session:
        return len(list(await session.exec(select(OutboxMessage))))


async def test_two_calls_with_one_idempotency_key_at_once_invite_once(
    invitations: Invitations, database: Database
) -> None:
    first, second = await asyncio.gather(
        invitations.invite(REQUEST, api_key="crm", idempotency_key="k-1"),
        invitations.invite(REQUEST, api_key="crm", idempotency_key="k-1"),
    )
    assert first.invitation.id == second.invitation.id
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert await outbox_rows(database) == 1


async def test_a_key_reused_for_another_request_is_refused_whatever_differs(invitations: Invitations) -> None:
    await invitations.invite(REQUEST, api_key="crm", idempotency_key="k-1")
    for other in (
        InvitationRequest("nps", REQUEST.recipient, REQUEST.reference, REQUEST.attributes),
        InvitationRequest("csat", ToPlatformUser("slack", "U2"), REQUEST.reference, REQUEST.attributes),
        InvitationRequest("csat", ToPerson(1), REQUEST.reference, REQUEST.attributes),
        InvitationRequest("csat", REQUEST.recipient, None, REQUEST.attributes),
        InvitationRequest("csat", REQUEST.recipient, REQUEST.reference, {"region": "south"}),
    ):
        with pytest.raises(IdempotencyKeyReused):
            await invitations.invite(other, api_key="crm", idempotency_key="k-1")
    same = InvitationRequest("csat", ToPlatformUser("slack", "U1"), "ORDER123", {"region": "north"})
    assert (await invitations.invite(same, api_key="crm", idempotency_key="k-1")).replayed


async def test_api_invitations_follow_the_fatigue_rules_and_are_skipped_with_the_rule(
    database: Database, engine: Engine, clock: Clock
) -> None:
    rules = InvitationSettings(recontact_days=30, surveys={"nps": SurveyFatigue(sample_percent=50)})
    invitations = Invitations(database, engine, {"slack": True}, clock, rules)
    first = await invitations.invite(REQUEST, api_key="crm", idempotency_key=None)
    again = await invitations.invite(REQUEST, api_key="crm", idempotency_key=None)
    assert (first.invitation.state, again.invitation.state) == ("invited", "skipped")
    assert again.invitation.reason == "recontact_days: invited to csat in the last 30 days"
    assert await outbox_rows(database) == 1
    orders = [
        await invitations.invite(
            InvitationRequest("nps", ToPlatformUser("slack", f"U{number}"), f"ORDER{number}"),
            api_key="crm",
            idempotency_key=None,
        )
        for number in range(100, 140)
    ]
    reasons = {invited.invitation.reason for invited in orders}
    assert reasons == {None, "sample_percent: not in the 50% sample"}  # some of each, by the order's number


async def test_two_invitations_at_once_to_one_person_within_recontact_days_invite_once(
    database: Database, engine: Engine, clock: Clock
) -> None:
    # Two callers at the same moment (a pulse and the API, two processes) must not both pass the recontact rule.
    invitations = Invitations(database, engine, {"slack": True}, clock, InvitationSettings(recontact_days=30))
    await invitations.invite(InvitationRequest("nps", REQUEST.recipient), idempotency_key=None)  # known from now on
    request = InvitationRequest("csat", REQUEST.recipient)

    first, second = await asyncio.gather(
        invitations.invite(request, api_key="crm", idempotency_key=None),
        invitations.invite(request, api_key="erp", idempotency_key=None),
    )

    assert sorted([first.invitation.state, second.invitation.state]) == ["invited", "skipped"]
