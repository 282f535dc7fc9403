"""The members of a Slack channel or user group, as a pulse invites them: every page of a large channel, the bot
itself left out, and Slack's refusal raised for the pulse to count."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_signing import BOT_USER_ID
from tests.handlers.slack.conftest import SlackWorkspace

CROWD = [f"U{number:08}" for number in range(450)]


async def test_every_member_of_a_large_channel_is_listed_page_by_page_without_the_bot(slack: SlackWorkspace) -> None:
    slack.fake.add_channel("C0ALLHANDS", "all-hands", members=CROWD)  # the bot is a member too
    assert await slack.channel.group_members("C0ALLHANDS") == CROWD
    pages = slack.fake.calls_of("conversations.members")
    assert [call.args.get("limit") for call in pages] == ["200", "200", "200"]


async def test_a_user_groups_users_are_listed(slack: SlackWorkspace) -> None:
    slack.fake.add_usergroup("S0DEPT", ["U0ALICE", BOT_USER_ID, "U0BOB"])
    assert await slack.channel.group_members("S0DEPT") == ["U0ALICE", "U0BOB"]


@pytest.mark.parametrize("group", ["C0GONE", "S0GONE"])
async def test_a_group_slack_does_not_know_raises_its_error(slack: SlackWorkspace, group: str) -> None:
    with pytest.raises(SlackApiError):
        await slack.channel.group_members(group)
