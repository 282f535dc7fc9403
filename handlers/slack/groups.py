"""The members of a Slack group, for pulses: a conversation's members (conversations.members, page by page) or a
user group's (usergroups.users.list), the bot itself left out."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

USER_GROUP_PREFIX = "S"  # Slack's ids: user groups "S…", conversations "C…" (public) or "G…" (private)
PAGE = 200  # members per conversations.members page; Slack advises no more than 200


async def group_members(client: AsyncWebClient, group: str, bot_user_id: str) -> list[str]:
    """The user ids in `group`, in Slack's order; raises SlackApiError when Slack refuses (unknown group, missing
    scope, the bot not in a private channel)."""
    if group.startswith(USER_GROUP_PREFIX):
        response = await client.usergroups_users_list(usergroup=group)
        members: list[str] = list(response["users"])
    else:
        members = []
        async for page in await client.conversations_members(channel=group, limit=PAGE):
            members += page["members"]
    return [member for member in members if member != bot_user_id]
