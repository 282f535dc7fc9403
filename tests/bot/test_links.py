"""Survey links: tokens that cannot be forged or altered, links that expire, and the surveys they start carrying
the link's reference and attributes where the API's filters find them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.engine import Engine
from bot.events import Respondent, StartSurvey, TextAnswer
from bot.links import TOKEN_PREFIX, LinkRefused, LinkRequest, Links, LinkTokens, Unusable, looks_like_token
from bot.surveys import Survey, SurveyCatalogue
from storage.db import Database
from storage.links import LinkView
from storage.models import AuditEntry, Conversation, Invitation
from storage.responses import response_page
from tests.conftest import Clock

KEY = b"test-hash-key"
ORDER = LinkRequest("csat", "ORDER123", {"region": "north", "plan": "pro"})
CUSTOMER = Respondent("telegram", "714862471", "en")


@pytest.fixture
def links(database: Database, engine: Engine, clock: Clock) -> Links:
    return Links(database, engine.catalogue, KEY, lambda token: f"https://t.me/feedback_bot?start={token}", clock)


def test_a_token_fits_telegrams_start_parameter_and_differs_every_time() -> None:
    tokens = LinkTokens(KEY)
    made = {tokens.new() for _ in range(100)}
    assert len(made) == 100
    for token in made:
        assert len(token) <= 64 and token.startswith(TOKEN_PREFIX)
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        assert tokens.is_genuine(token) and looks_like_token(token)


def test_an_altered_token_or_one_signed_with_another_key_is_not_genuine() -> None:
    token = LinkTokens(KEY).new()
    for position in range(len(TOKEN_PREFIX), len(token)):
        altered = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        assert not LinkTokens(KEY).is_genuine(altered)
    assert not LinkTokens(b"another key").is_genuine(token)
    assert not LinkTokens(KEY).is_genuine(token + "A") and not LinkTokens(KEY).is_genuine(token[:-1])


def test_survey_names_are_not_taken_for_tokens() -> None:
    assert not any(looks_like_token(payload) for payload in ("csat", "csat-ORDER123", "", "nps-lk_1"))


async def test_a_link_stands_for_its_survey_reference_and_attributes_and_its_making_is_audited(
    links: Links, database: Database
) -> None:
    made = await links.create(ORDER, created_by="api:crm")
    found = await links.find(made.token)
    assert isinstance(found, LinkView)
    assert (found.survey_id, found.reference, found.attributes, found.created_by, found.expires_at) == (
        "csat",
        "ORDER123",
        {"region": "north", "plan": "pro"},
        "api:crm",
        None,
    )
    assert "ORDER123" not in made.token and "north" not in made.token
    async with database.snapshot() as session:
        [audit] = await session.exec(select(AuditEntry))
    assert (audit.actor, audit.action, audit.subject) == ("api:crm", "link.create", f"link {made.id}")


async def test_a_forged_token_or_a_genuine_one_never_stored_opens_nothing(links: Links) -> None:
    made = await links.create(ORDER, created_by="api:crm")
    forged = made.token[:-1] + ("A" if made.token[-1] != "A" else "B")
    assert await links.find(forged) == Unusable.INVALID
    assert await links.find(links.tokens.new()) == Unusable.INVALID  # signed with the key, never made
    assert await links.find("lk_short") == Unusable.INVALID


async def test_a_link_opens_nothing_once_it_has_expired(links: Links, clock: Clock) -> None:
    made = await links.create(LinkRequest("nps", expires_in=timedelta(days=7)), created_by="someone")
    assert made.expires_at == clock.now + timedelta(days=7)
    clock.advance(days=6, hours=23)
    assert isinstance(await links.find(made.token), LinkView)
    clock.advance(hours=1)
    assert await links.find(made.token) == Unusable.EXPIRED


async def test_a_link_to_an_unknown_survey_or_with_a_bad_attribute_is_refused(links: Links) -> None:
    with pytest.raises(LinkRefused) as unknown:
        await links.create(LinkRequest("nosuch"), created_by="someone")
    assert (unknown.value.field, unknown.value.reason) == (
        "survey",
        "no survey 'nosuch'; the surveys are ces, csat, internal-service, nps",
    )
    with pytest.raises(LinkRefused) as bad_name:
        await links.create(LinkRequest("csat", attributes={"the region": "north"}), created_by="someone")
    assert bad_name.value.field == "attributes"


async def test_a_survey_started_by_a_link_carries_its_reference_and_attributes(
    links: Links, engine: Engine, database: Database
) -> None:
    made = await links.create(ORDER, created_by="api:crm")
    reply = await engine.handle(StartSurvey(CUSTOMER, "start-1", made.survey_id, made.reference, link_id=made.id))
    assert "How satisfied are you" in str(reply.prompts)
    await engine.handle(StartSurvey(CUSTOMER, "start-1", made.survey_id, made.reference, link_id=made.id))  # again
    async with database.snapshot() as session:
        [conversation] = await session.exec(select(Conversation))
        [invitation] = await session.exec(select(Invitation))
    assert conversation.reference == "ORDER123"
    assert (invitation.link_id, invitation.conversation_id, invitation.state) == (made.id, conversation.id, "sent")
    assert (invitation.reference, invitation.attributes) == ("ORDER123", {"region": "north", "plan": "pro"})
    assert invitation.person_id == conversation.person_id is not None

    await engine.handle(StartSurvey(CUSTOMER, "start-2", "csat", "ORDER123", link_id=made.id))  # opened once more
    async with database.snapshot() as session:
        assert len(list(await session.exec(select(Invitation)))) == 1  # the survey resumed: no second invitation


async def test_an_anonymous_survey_started_by_a_link_is_found_by_its_attributes_yet_names_nobody(
    links: Links, engine: Engine, database: Database
) -> None:
    made = await links.create(LinkRequest("internal-service", None, {"department": "it"}), created_by="cli")
    colleague = Respondent("telegram", "42", "en")
    await engine.handle(StartSurvey(CUSTOMER, "start-1", made.survey_id, link_id=made.id))
    await engine.handle(StartSurvey(colleague, "start-2", "internal-service"))  # not by the link
    for who in (CUSTOMER, colleague):
        await engine.handle(TextAnswer(who, f"answer-{who.user_id}", "2"))
    async with database.snapshot() as session:
        [invitation] = await session.exec(select(Invitation))
        found = await response_page(
            session,
            survey_id=None,
            since=None,
            until=None,
            reference=None,
            attributes={"department": "it"},
            after_id=0,
            limit=10,
        )
    assert invitation.person_id is None
    assert [(response.id, response.person_id, response.attributes) for response in found] == [
        (invitation.conversation_id, None, {"department": "it"})
    ]
    assert [answer.choice for answer in found[0].answers] == ["facilities"]


async def test_a_link_whose_survey_was_removed_since_opens_nothing(
    links: Links, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    made = await links.create(LinkRequest("nps"), created_by="someone")
    without_nps = SurveyCatalogue({name: survey for name, survey in surveys.items() if name != "nps"})
    after_removal = Links(database, without_nps, KEY, links.url_of, clock)
    assert await after_removal.find(made.token) == Unusable.SURVEY_GONE


async def test_a_forged_token_is_refused_without_asking_the_database(
    engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/feedback.db")  # any lookup fails
    links = Links(unreachable, engine.catalogue, KEY, lambda token: None, clock)
    try:
        forged = LinkTokens(b"the forger's key").new()
        assert await links.find(forged) == Unusable.INVALID
        with pytest.raises(OperationalError):
            await links.find(LinkTokens(KEY).new())  # a genuine token is looked up
    finally:
        await unreachable.close()


async def test_a_link_to_an_anonymous_survey_carries_no_reference(links: Links) -> None:
    with pytest.raises(LinkRefused) as refused:
        await links.create(LinkRequest("internal-service", "EMP42"), created_by="cli")

    assert (refused.value.field, refused.value.reason) == (
        "reference",
        "internal-service is anonymous: its links carry no reference",
    )
