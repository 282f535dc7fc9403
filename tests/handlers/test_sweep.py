"""The minute's sweep of `feedbackbot run` counts in its one log line what retention removed and the reminders it
queued, and queues the weekly digest when it is due."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot import digest
from bot.app import Core
from bot.cases import CaseDesk, Cases
from bot.config import PrivacySettings, Settings
from bot.engine import Engine
from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.outbound import SurveyInvitation
from bot.surveys import Survey
from handlers.registry import settings_model
from handlers.runner import sweep
from storage.db import Database
from storage.invitations import settle_invitation
from storage.models import InvitationState, OutboxMessage
from tests.bot.customer import Customer
from tests.conftest import Clock, database_dump


async def test_the_sweep_anonymises_inactive_people_and_says_how_many(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.now = datetime.now(UTC)  # rows are stamped with the wall clock when added
    settings = Settings(privacy=PrivacySettings(retention_days=30))
    core = Core(
        settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, CaseDesk(), clock)
    )
    await Customer(engine, user_id="gone-714862471").start("csat", "ORDER-GONE")
    clock.advance(days=31)

    with caplog.at_level(logging.INFO, logger="handlers.runner"):
        await sweep(core)

    assert "anonymised 1 inactive people" in caplog.text
    assert "gone-714862471" not in await database_dump(database)


async def test_the_sweep_queues_the_weekly_digest_when_it_is_due(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram = {"token": "123456:test-token", "staff_chat_id": -100777}
    settings = settings_model().model_validate({"telegram": telegram, "digest": {"weekday": "friday", "time": "18:00"}})
    one = {"csat": surveys["csat"]}  # each survey digested costs the chart's eight weekly totals
    core = Core(
        settings=settings, database=database, surveys=one, engine=engine, cases=Cases(database, CaseDesk(), clock)
    )
    await sweep(core)  # Thursday: the digest is planned for Friday 18:00 UTC
    clock.now = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)

    with caplog.at_level(logging.INFO, logger="handlers.runner"):
        await sweep(core)

    assert "queued the weekly digest" in caplog.text
    async with database.snapshot() as session:
        [queued] = (await session.exec(select(OutboxMessage))).all()
    assert (queued.channel, queued.kind) == ("telegram", "staff_digest")
    assert '"target":"-100777"' in queued.payload


async def test_the_sweep_queues_the_reminders_due_under_its_correlation_id_and_says_how_many(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = Core(
        settings=Settings(), database=database, surveys=surveys, engine=engine, cases=Cases(database, CaseDesk(), clock)
    )
    invitations = Invitations(database, engine, {"slack": True}, clock)
    request = InvitationRequest("csat", ToPlatformUser("slack", "U1"))
    invited = await invitations.invite(request, api_key="crm", idempotency_key=None)
    assert await invitations.opening(SurveyInvitation(invitation_id=invited.invitation.id, platform_id="U1"), "slack")
    async with database.transaction() as session:
        await settle_invitation(
            session, invitation_id=invited.invitation.id, state=InvitationState.SENT, reason=None, now=clock.now
        )
    clock.advance(hours=24)

    with caplog.at_level(logging.INFO, logger="handlers.runner"):
        await sweep(core)

    assert "queued 1 survey reminders" in caplog.text
    async with database.snapshot() as session:
        [reminder] = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "survey_reminder"))
    assert reminder.correlation_id is not None and reminder.correlation_id.startswith("sweep-")


async def test_a_digest_that_cannot_be_built_is_named_and_the_rest_of_the_sweep_goes_on(
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_model().model_validate({"telegram": {"token": "123456:test-token", "staff_chat_id": -100777}})
    core = Core(
        settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, CaseDesk(), clock)
    )
    await sweep(core)  # plans the digest for next Monday
    clock.advance(days=8)
    await Customer(engine, user_id="late").complain("Nobody has answered me for days")  # due to escalate

    async def failing(*_: object, **__: object) -> None:
        raise RuntimeError("the chart library is broken")

    monkeypatch.setattr(digest, "build_content", failing)  # a failure the digest cannot foresee
    clock.advance(days=2)
    with caplog.at_level(logging.INFO, logger="handlers.runner"):
        await sweep(core)

    assert "the weekly digest could not be built: RuntimeError" in caplog.text
    assert "escalated 1 overdue cases" in caplog.text and core.swept.escalations == 1
