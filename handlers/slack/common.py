"""What every Slack listener shares: the services, who is asking, and sending a reply into a DM thread."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackSettings
from bot.engine import Engine
from bot.events import Event, Respondent
from bot.prompts import Reply
from handlers.slack import blocks

CHANNEL = "slack"
STAFF_CACHE_SECONDS = 300
# Errors that mean "this person or channel cannot be written to": logged once, clearly, never retried.
UNDELIVERABLE = frozenset({"user_not_found", "channel_not_found", "not_in_channel", "is_archived", "cannot_dm_bot"})
log = logging.getLogger("handlers.slack")


@dataclass
class Services:
    engine: Engine
    settings: SlackSettings
    client: AsyncWebClient
    staff_cache: tuple[float, set[str]] = field(default=(0.0, set()))

    async def is_staff(self, user_id: str) -> bool:
        """Configured staff ids, or members of the staff channel (fetched at most every few minutes)."""
        if user_id in self.settings.staff_user_ids:
            return True
        channel = self.settings.staff_channel
        if not channel:
            return False
        fetched_at, members = self.staff_cache
        if time.monotonic() - fetched_at > STAFF_CACHE_SECONDS:
            members = await self._members_of(channel)
            self.staff_cache = (time.monotonic(), members)
        return user_id in members

    async def _members_of(self, channel: str) -> set[str]:
        members: set[str] = set()
        try:
            async for page in await self.client.conversations_members(channel=channel, limit=200):
                members.update(page.get("members", []))
        except SlackApiError as error:
            log_api_error("conversations.members", error)
        return members


def respondent(user_id: str) -> Respondent:
    return Respondent(channel=CHANNEL, user_id=user_id)


def log_api_error(method: str, error: SlackApiError) -> None:
    """One clear line, naming the method and Slack's error code but no person."""
    code = error.response.get("error", "unknown_error")
    if code in UNDELIVERABLE:
        log.warning("slack %s: %s (the person or channel cannot be reached; nothing retried)", method, code)
    else:
        log.error("slack %s failed: %s", method, code)


async def deliver(services: Services, event: Event, reply: Reply, thread_ts: str | None) -> str | None:
    """Posts the reply's messages in the person's DM (in the survey's thread), each once; returns the last ts."""
    posted_ts = None
    messages = blocks.prompt_blocks(reply.prompts)
    for number, message in enumerate(messages[reply.delivered :], start=reply.delivered + 1):
        text = blocks.prompt_text(reply.prompts)
        try:
            response = await services.client.chat_postMessage(
                channel=event.who.user_id, blocks=message, text=text, thread_ts=thread_ts
            )
        except SlackApiError as error:
            log_api_error("chat.postMessage", error)
            if error.response.get("error") in UNDELIVERABLE:
                await services.engine.mark_delivered(CHANNEL, event.event_id, len(messages))
                return None
            raise
        posted_ts = str(response["ts"])
        thread_ts = thread_ts or posted_ts  # later messages of the survey go into its thread
        await services.engine.mark_delivered(CHANNEL, event.event_id, number)
    return posted_ts


def event_key(body: dict[str, Any]) -> str:
    """The idempotency key of an inbound request: Slack's event id, or the interaction's trigger id."""
    return f"{CHANNEL}-{body.get('event_id') or body.get('trigger_id') or body['actions'][0]['action_ts']}"
