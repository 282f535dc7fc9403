"""Invitations in storage, on both engines: found again by their caller's idempotency key (unique per API key),
settled once, and read with the state their conversation reached."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage import invitations, outbox, queries
from storage.db import Database
from storage.models import Answer, Conversation, ConversationStatus, InvitationState, OutboxMessage, Person
from storage.person_record import person_record

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


async def recorded(
    database: Database, *, api_key: str = "crm", idempotency_key: str | None = "k-1", token: str = "t-1"
) -> int:
    async with database.transaction() as session:
        person = await queries.get_or_create_person(session, channel="telegram", platform_id="42", language=None)
        await session.flush()
        invitation = await invitations.add_invitation(
            session,
            token=token,
            survey_id="csat",
            person=person,
            reference="ORDER123",
            attributes={"region": "north"},
            state=InvitationState.INVITED,
            reason=None,
            api_key=api_key,
            idempotency_key=idempotency_key,
            request_hash="h" * 64,
            now=NOW,
        )
    assert invitation.id is not None
    return invitation.id


async def test_an_invitation_is_found_by_its_api_key_and_idempotency_key(database: Database) -> None:
    invitation_id = await recorded(database)
    async with database.snapshot() as session:
        found = await invitations.find_by_idempotency_key(session, api_key="crm", idempotency_key="k-1")
        other = await invitations.find_by_idempotency_key(session, api_key="shop", idempotency_key="k-1")
    assert found is not None and other is None
    assert (found.id, found.state, found.attributes, found.reference) == (
        invitation_id,
        "invited",
        {"region": "north"},
        "ORDER123",
    )


async def test_an_idempotency_key_is_unique_per_api_key(database: Database) -> None:
    await recorded(database)
    await recorded(database, api_key="shop", token="t-2")
    await recorded(database, idempotency_key=None, token="t-3")
    await recorded(database, idempotency_key=None, token="t-4")  # without a key, any number
    with pytest.raises(IntegrityError):
        await recorded(database, token="t-5")


async def test_an_invitation_is_settled_once(database: Database) -> None:
    invitation_id = await recorded(database)
    async with database.transaction() as session:
        await invitations.settle_invitation(
            session, invitation_id=invitation_id, state=InvitationState.SKIPPED, reason="opted out", now=NOW
        )
        await invitations.settle_invitation(
            session, invitation_id=invitation_id, state=InvitationState.FAILED, reason="blocked", now=NOW
        )
    async with database.snapshot() as session:
        view = await invitations.get_invitation(session, invitation_id=invitation_id)
    assert view is not None and (view.state, view.reason, view.sent_at) == ("skipped", "opted out", None)


async def test_invitations_sent_together_are_recorded_sent_but_one_settled_before(database: Database) -> None:
    first, second, skipped = [await recorded(database, token=f"t-{n}", idempotency_key=f"k-{n}") for n in range(3)]
    async with database.transaction() as session:
        await invitations.settle_invitation(
            session, invitation_id=skipped, state=InvitationState.SKIPPED, reason="opted out", now=NOW
        )
        await invitations.settle_invitations(
            session, invitation_ids=[first, second, skipped], state=InvitationState.SENT, reason=None, now=NOW
        )
    async with database.snapshot() as session:
        views = [await invitations.get_invitation(session, invitation_id=n) for n in (first, second, skipped)]
    assert [(view.state, view.sent_at) for view in views if view is not None] == [
        ("sent", NOW),
        ("sent", NOW),
        ("skipped", None),
    ]


async def test_a_sent_invitation_is_started_then_completed_with_its_conversation(database: Database) -> None:
    invitation_id = await recorded(database)
    async with database.transaction() as session:
        await invitations.settle_invitation(
            session, invitation_id=invitation_id, state=InvitationState.SENT, reason=None, now=NOW
        )
        person = await queries.get_person(session, channel="telegram", platform_id="42")
        assert isinstance(person, Person)
        conversation = Conversation(
            survey_id="csat",
            channel="telegram",
            respondent_key="key-of-42",
            person_id=person.id,
            language="en",
            expires_at=NOW + timedelta(days=1),
        )
        session.add(conversation)
        await session.flush()
        await invitations.link_conversation(session, invitation_id=invitation_id, conversation=conversation)

    async def state() -> str:
        async with database.snapshot() as session:
            view = await invitations.get_invitation(session, invitation_id=invitation_id)
        assert view is not None
        return view.state

    assert await state() == "sent"
    async with database.transaction() as session:
        assert conversation.id is not None
        session.add(Answer(conversation_id=conversation.id, question_id="satisfaction", kind="csat", value=5))
    assert await state() == "started"
    async with database.transaction() as session:
        row = await session.get(Conversation, conversation.id)
        assert row is not None
        row.status = ConversationStatus.COMPLETED
    assert await state() == "completed"


async def test_an_anonymous_conversation_is_not_tied_to_the_invitation(database: Database) -> None:
    invitation_id = await recorded(database)
    async with database.transaction() as session:
        conversation = Conversation(
            survey_id="csat",
            channel="telegram",
            respondent_key="anonymous-key-of-42",
            anonymous=True,
            language="en",
            expires_at=NOW + timedelta(days=1),
        )
        session.add(conversation)
        await session.flush()
        await invitations.link_conversation(session, invitation_id=invitation_id, conversation=conversation)
    async with database.snapshot() as session:
        row = await invitations.get_invitation_row(session, invitation_id=invitation_id)
    assert row is not None and row.conversation_id is None


async def test_forgetting_the_person_skips_their_waiting_invitation_clears_it_and_drops_its_message(
    database: Database,
) -> None:
    invitation_id = await recorded(database)
    async with database.transaction() as session:
        for platform_id in ("42", "4242"):  # the person's, and someone else's that merely contains it
            payload = json.dumps(
                {"kind": "survey_invitation", "invitation_id": invitation_id, "platform_id": platform_id}
            )
            outbox.add(session, channel="telegram", kind="survey_invitation", payload=payload, case_id=None, now=NOW)
    async with database.transaction() as session:
        await queries.forget_respondent(session, channel="telegram", platform_id="42", respondent_keys=[])
    async with database.snapshot() as session:
        view = await invitations.get_invitation(session, invitation_id=invitation_id)
        left = [json.loads(message.payload)["platform_id"] for message in await session.exec(select(OutboxMessage))]
    assert view is not None and (view.state, view.person_id, view.reference, view.attributes) == (
        "skipped",
        None,
        None,
        {},
    )
    assert left == ["4242"]


async def test_the_persons_record_holds_their_invitations(database: Database) -> None:
    await recorded(database)
    async with database.snapshot() as session:
        record = await person_record(session, channel="telegram", platform_id="42", respondent_key="unused")
    assert record is not None
    assert [(row.survey_id, row.reference, row.attributes, row.state) for row in record.invitations] == [
        ("csat", "ORDER123", {"region": "north"}, "invited")
    ]
    assert record.counts()["invitations"] == 1
