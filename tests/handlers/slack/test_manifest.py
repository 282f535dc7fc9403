"""The app manifest asks for exactly what the bot uses: its command, its events, the scopes of its calls."""

from __future__ import annotations

import json
from pathlib import Path

from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from bot.outbound import Sent, StaffDigest, SurveyInvitation
from handlers.slack import commands
from tests.fakes.slack_api import NEWER_METHOD_SCOPES, SPEC_PATH
from tests.fakes.slack_signing import USER_ID, app_home_opened, block_actions, event_callback, slash_command
from tests.handlers.png import one_pixel_png
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

MANIFEST = json.loads((Path(commands.__file__).parent / "manifest.json").read_text(encoding="utf-8"))
SPEC = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
# Scopes the manifest asks for that no Web API call needs: running a slash command, and receiving message.im.
FOR_EVENTS = {"commands", "im:history"}


def scopes_of(method: str) -> set[str]:
    """The spec's scopes for a method, in today's granular form (chat:write:bot -> chat:write); those of methods
    newer than the spec as documented."""
    if method in NEWER_METHOD_SCOPES:
        return set(NEWER_METHOD_SCOPES[method])
    operation = next(iter(SPEC["paths"][f"/{method}"].values()))
    declared = {scope for rule in operation.get("security", []) for scope in rule.get("slackAuth", [])}
    return {scope.removesuffix(":bot").removesuffix(":user") for scope in declared}


def test_the_manifest_declares_the_bots_command_and_events() -> None:
    assert [c["command"] for c in MANIFEST["features"]["slash_commands"]] == [commands.FEEDBACK_COMMAND]
    assert sorted(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == ["app_home_opened", "message.im"]
    urls = {
        MANIFEST["settings"]["event_subscriptions"]["request_url"],
        MANIFEST["settings"]["interactivity"]["request_url"],
        MANIFEST["features"]["slash_commands"][0]["url"],
    }
    assert urls == {"https://YOUR-BOT-HOST/slack/events"}
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


async def test_every_call_the_bot_makes_is_covered_by_a_manifest_scope(slack: SlackWorkspace) -> None:
    slack.fake.add_channel("CSTAFF", "staff", members=[STAFF])
    slack.channel.services.settings = slack.channel.services.settings.model_copy(update={"staff_channel": "CSTAFF"})
    await slack.post(slash_command("/feedback"))
    await slack.post(event_callback(app_home_opened("UNOBODY")))
    await slack.post(block_actions("survey_start_0", "nps", channel_id=f"D{USER_ID}"))
    await slack.post(block_actions("stale", "x", channel_id=f"D{USER_ID}"))
    await slack.channel.send(
        StaffDigest(target="CSTAFF", title="Weekly digest", text="No answers.", chart_png=one_pixel_png())
    )
    slack.fake.add_usergroup("SDEPT", [USER_ID])
    assert await slack.channel.group_members("SDEPT") == [USER_ID]  # a pulse's recipients
    assert await slack.channel.group_members("CSTAFF") == [STAFF]
    await invite_and_send(slack, "UINVITED")
    called = await slack.settle(
        lambda: (
            {c.method for c in slack.fake.calls} >= {"views.open", "chat.postEphemeral"}
            and {c.method for c in slack.fake.calls}
        )
    )
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    for method in called - {"auth.test"}:
        needed = scopes_of(method)
        assert needed == {"none"} or needed & granted, f"{method} needs one of {needed}"
    used = {scope for method in called for scope in scopes_of(method)} | FOR_EVENTS
    assert granted <= used, f"scopes asked for but never used: {granted - used}"


async def invite_and_send(slack: SlackWorkspace, user_id: str) -> None:
    """An invitation to a Slack member, sent: its DM, then users.info for the member's time zone."""
    slack.fake.add_user(user_id, "invited-member")
    core_invitations = slack.channel.invitations
    invitations = Invitations(
        core_invitations.database, core_invitations.engine, {"slack": True}, core_invitations.clock
    )
    request = InvitationRequest("csat", ToPlatformUser("slack", user_id))
    invited = await invitations.invite(request, api_key="crm", idempotency_key=None)
    message = SurveyInvitation(invitation_id=invited.invitation.id, platform_id=user_id)
    assert isinstance(await slack.channel.send(message), Sent)
