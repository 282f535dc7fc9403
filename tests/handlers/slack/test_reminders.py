"""Reminders on Slack, end to end on the fake Web API: the invited member's time zone comes from users.info, the
reminder waits for the end of their night there, then comes into the DM with the open question's buttons, and
pressing one carries the survey on."""

from __future__ import annotations

from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.outbox import Dispatcher
from tests.conftest import Clock
from tests.fakes.slack_signing import USER_ID
from tests.handlers.slack.conftest import SlackWorkspace, button, press

REMINDER = "A reminder: your survey is still open, and we would be glad of your answers."


async def test_a_reminder_waits_for_the_morning_in_the_members_zone_and_carries_the_survey_on(
    slack: SlackWorkspace, clock: Clock
) -> None:
    slack.fake.add_user(USER_ID, "employee", tz="Asia/Tokyo")
    core = slack.channel.invitations  # made without [slack] settings: Slack may write first all the same
    invitations = Invitations(core.database, core.engine, {"slack": True}, clock)
    request = InvitationRequest("csat", ToPlatformUser("slack", USER_ID))
    await invitations.invite(request, api_key="hr", idempotency_key=None)

    dispatcher = Dispatcher(core.database, {"slack": slack.channel.send}, clock=clock)
    assert await dispatcher.run_once() == 1  # the invitation, at 09:00 UTC: 18:00 in Tokyo
    assert len(slack.fake.messages(USER_ID)) == 1
    assert "users.info" in {call.method for call in slack.fake.calls}

    reminders = slack.channel.reminders
    clock.advance(hours=27)  # 12:00 UTC, a working hour in London, but 21:00 in Tokyo
    assert await reminders.sweep() == 0
    clock.advance(hours=10, minutes=59)  # 07:59 in Tokyo
    assert await reminders.sweep() == 0
    clock.advance(minutes=1)  # 08:00 in Tokyo
    assert await reminders.sweep() == 1
    assert await dispatcher.run_once() == 1

    reminder = slack.fake.last_message(USER_ID)
    assert reminder["text"].startswith(REMINDER)
    first_question = slack.fake.messages(USER_ID)[0]
    assert any(block["type"] == "actions" for block in reminder["blocks"])
    assert button(reminder, "5")["action_id"] == button(first_question, "5")["action_id"]

    await press(slack, reminder, "5")
    follow_up = await slack.settle(
        lambda: [m for m in slack.fake.messages(USER_ID) if "Anything we could do better?" in m.get("text", "")]
    )
    assert follow_up[0]["thread_ts"] == reminder["ts"]  # the survey goes on in the reminder's thread


async def test_a_members_time_zone_is_asked_once_whatever_the_invitations(slack: SlackWorkspace, clock: Clock) -> None:
    core = slack.channel.invitations
    invitations = Invitations(core.database, core.engine, {"slack": True}, clock)
    dispatcher = Dispatcher(core.database, {"slack": slack.channel.send}, clock=clock)
    for survey in ("csat", "nps", "ces"):
        request = InvitationRequest(survey, ToPlatformUser("slack", USER_ID))
        await invitations.invite(request, api_key="hr", idempotency_key=None)
        assert await dispatcher.run_once() == 1
    assert len(slack.fake.messages(USER_ID)) >= 3
    assert [call.method for call in slack.fake.calls].count("users.info") == 1
