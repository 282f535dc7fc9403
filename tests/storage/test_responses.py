"""Responses read for the API, on both engines: filtered by the attributes of the invitation that opened them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import invitations, queries
from storage.db import Database
from storage.models import Answer, Conversation, InvitationState
from storage.responses import response_page

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


async def invited_and_answered(database: Database, user: str, attributes: dict[str, str]) -> int:
    """A person invited with `attributes` who answered the first question; the conversation's id."""
    async with database.transaction() as session:
        person = await queries.get_or_create_person(session, channel="telegram", platform_id=user, language=None)
        invitation = await invitations.add_invitation(
            session,
            token=f"token-{user}",
            survey_id="csat",
            person=person,
            reference=None,
            attributes=attributes,
            state=InvitationState.SENT,
            reason=None,
            api_key="crm",
            idempotency_key=None,
            request_hash="h" * 64,
            now=NOW,
        )
        conversation = Conversation(
            survey_id="csat",
            channel="telegram",
            respondent_key=f"key-{user}",
            person_id=person.id,
            language="en",
            expires_at=NOW + timedelta(days=1),
        )
        session.add(conversation)
        await session.flush()
        assert conversation.id is not None
        session.add(Answer(conversation_id=conversation.id, question_id="satisfaction", kind="csat", value=4))
        await invitations.link_conversation(session, invitation_id=invitation.id or 0, conversation=conversation)
        return conversation.id


async def test_responses_are_filtered_by_every_attribute_given(database: Database) -> None:
    north_pro = await invited_and_answered(database, "1", {"region": "north", "plan": "pro"})
    north_free = await invited_and_answered(database, "2", {"region": "north", "plan": "free"})
    await invited_and_answered(database, "3", {"region": "south", "plan": "pro"})

    async def matching(**attributes: str) -> list[int]:
        async with database.snapshot() as session:
            page = await response_page(
                session,
                survey_id=None,
                since=None,
                until=None,
                reference=None,
                attributes=attributes,
                after_id=0,
                limit=10,
            )
        return [response.id for response in page]

    assert await matching(region="north") == [north_pro, north_free]
    assert await matching(region="north", plan="pro") == [north_pro]
    assert await matching(region="west") == []
    async with database.snapshot() as session:
        [first] = await response_page(
            session, survey_id="csat", since=None, until=None, reference=None, attributes={}, after_id=0, limit=1
        )
    assert (first.attributes, [answer.value for answer in first.answers]) == (
        {"region": "north", "plan": "pro"},
        [4],
    )
