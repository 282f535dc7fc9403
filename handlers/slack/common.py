"""What every Slack listener shares: the services, who is asking, and sending a reply into a DM thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import Engine
from bot.events import Event, Respondent
from bot.pacing import Pacer
from bot.prompts import Message, Reply, as_messages
from bot.staff_notices import StaffNotices, raised_at
from handlers.slack import blocks
from handlers.slack.settings import SlackSettings

CHANNEL = "slack"
STAFF_CACHE_SECONDS = 300
PER_CHANNEL_INTERVAL, PER_CHANNEL_BURST = 1.0, 3  # Slack: about one message a second per channel
# Errors that mean "this person or channel cannot be written to": logged once, clearly, never retried.
UNDELIVERABLE = frozenset({"user_not_found", "channel_not_found", "not_in_channel", "is_archived", "cannot_dm_bot"})
# What reading a payload raises when a field is missing or of the wrong type or form: the request is refused.
PAYLOAD_ERRORS = (LookupError, TypeError, ValueError, AttributeError)
log = logging.getLogger("handlers.slack")


@dataclass
class Services:
    engine: Engine
    settings: SlackSettings
    client: AsyncWebClient
    notices: StaffNotices
    staff_cache: tuple[float, set[str]] = (0.0, set())
    delivering: set[str] = field(default_factory=set)  # events whose reply is being posted
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # work left running after the acknowledgement
    pacer: Pacer = field(default_factory=lambda: Pacer(PER_CHANNEL_INTERVAL, PER_CHANNEL_BURST))

    def after_ack(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` once the request is acknowledged; the channel waits for it on shutdown."""
        task = asyncio.create_task(logged(work, self.notices))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def is_staff(self, user_id: str) -> bool:
        """Configured staff ids, or members of the staff channel (fetched at most every few minutes)."""
        if user_id in self.settings.staff_user_ids:
            return True
        channel = self.settings.staff_channel
        if not channel:
            return False
        fetched_at, members = self.staff_cache
        if time.monotonic() - fetched_at > STAFF_CACHE_SECONDS:
            fetched = await self._members_of(channel)
            if fetched is not None:  # after an error, ask again next time rather than keep an empty list
                members = fetched
                self.staff_cache = (time.monotonic(), members)
        return user_id in members

    async def _members_of(self, channel: str) -> set[str] | None:
        members: set[str] = set()
        try:
            async for page in await self.client.conversations_members(channel=channel, limit=200):
                members.update(page.get("members", []))
        except SlackApiError as error:
            log_api_error("conversations.members", error)
            return None
        return members


def respondent(user_id: str) -> Respondent:
    return Respondent(channel=CHANNEL, user_id=user_id)


async def logged(work: Coroutine[Any, Any, None], notices: StaffNotices) -> None:
    """Runs `work`, reporting its failure as bolt's error handler would: bolt no longer sees work after the ack."""
    try:
        await work
    except Exception as error:
        await report_failure(notices, "work after the acknowledgement", error, "request, after its acknowledgement")


async def report_failure(notices: StaffNotices, what: str, error: Exception, request_kind: str) -> None:
    """Logs the failure and tells staff (rate-limited, without the error's message or the person)."""
    log_failure(what, error)
    await notices.handler_failed(CHANNEL, error, request_kind)


def request_kind(body: dict[str, Any]) -> str:
    """What a request carries (slash command, message event, block_actions, ...), for staff: never who or what."""
    if "command" in body:
        return "slash command"
    event = body.get("event")
    kind = f"{event.get('type')} event" if isinstance(event, dict) else str(body.get("type", "request"))
    return kind[:40]


def log_failure(what: str, error: Exception) -> None:
    """One line with the error and where it was raised, the traceback at DEBUG. The error's message stays out of
    the line: it may quote a person's words or a query's parameters."""
    if isinstance(error, SlackApiError):
        log_api_error(what, error)
        return
    log.error("slack %s failed: %s at %s", what, type(error).__name__, raised_at(error))
    log.debug("slack %s failed", what, exc_info=error)


def log_api_error(method: str, error: SlackApiError) -> None:
    """One clear line, naming the method and Slack's error code but no person."""
    code = error.response.get("error", "unknown_error")
    if code in UNDELIVERABLE:
        log.warning("slack %s: %s (the person or channel cannot be reached; nothing retried)", method, code)
    else:
        log.error("slack %s failed: %s", method, code)


async def deliver(services: Services, event: Event, reply: Reply, thread_ts: str | None) -> None:
    """Posts the reply's messages in the person's DM (the survey's thread), each once, even if Slack retries."""
    if event.event_id in services.delivering:
        return  # a retry of an event whose reply is being posted right now
    services.delivering.add(event.event_id)
    try:
        # A retry's reply was read before the first delivery finished: the count is read again now.
        delivered = await services.engine.delivered_count(CHANNEL, event.event_id) if reply.duplicate else 0
        await post_messages(services, event, as_messages(reply.prompts), delivered, thread_ts)
    finally:
        services.delivering.discard(event.event_id)


async def post_messages(
    services: Services, event: Event, messages: list[Message], delivered: int, thread_ts: str | None
) -> None:
    for number, message in enumerate(messages[delivered:], start=delivered + 1):
        await services.pacer.wait(event.who.user_id)
        try:
            response = await services.client.chat_postMessage(
                channel=event.who.user_id,
                blocks=blocks.message_blocks(message),
                text=blocks.message_text(message),
                thread_ts=thread_ts,
            )
        except SlackApiError as error:
            log_api_error("chat.postMessage", error)
            if error.response.get("error") in UNDELIVERABLE:
                await services.engine.mark_delivered(CHANNEL, event.event_id, len(messages))
                return
            raise
        thread_ts = thread_ts or str(response["ts"])  # later messages of the survey go into its thread
        await services.engine.mark_delivered(CHANNEL, event.event_id, number)


def event_key(body: dict[str, Any]) -> str:
    """The idempotency key of an inbound request: Slack's event id, or the interaction's trigger id."""
    return f"{CHANNEL}-{body.get('event_id') or body.get('trigger_id') or body['actions'][0]['action_ts']}"
