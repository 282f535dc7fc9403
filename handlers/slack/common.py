"""What every Slack listener shares: the services, who is asking, and sending a reply into a DM thread."""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncBoltRequest
from slack_bolt.kwargs_injection.async_utils import build_async_required_kwargs
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.util.utils import get_arg_names_of_callable
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import Engine
from bot.events import Event, Respondent
from bot.outbound import Refused, RetryLater, SendResult, Sent, Unreachable
from bot.pacing import Pacer
from bot.prompts import Message, Reply, as_messages
from bot.replies import Replies
from bot.staff_notices import StaffNotices, raised_at
from handlers.slack import blocks
from handlers.slack.settings import SlackSettings

CHANNEL = "slack"
STAFF_CACHE_SECONDS = 300
LOCALE_CACHE_SECONDS = 3600  # a person's Slack locale, asked at most hourly
LOCALES_KEPT = 10_000  # past this many people, only the locales asked within the hour are kept
# Asked before Slack is acknowledged (within 3 s): a locale not known by then is not waited for.
LOCALE_WAIT_SECONDS = 1.0
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
    replies: Replies
    # Never fetched: -inf, not 0.0, since the monotonic clock starts near 0 when the machine boots.
    staff_cache: tuple[float, set[str]] = (-math.inf, set())
    delivering: set[str] = field(default_factory=set)  # events whose reply is being posted
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # lazy listeners running after the acknowledgement
    pacer: Pacer = field(default_factory=lambda: Pacer(PER_CHANNEL_INTERVAL, PER_CHANNEL_BURST))
    locales: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # user -> (fetched at, locale)

    async def respondent(self, user_id: str) -> Respondent:
        """Who is asking, with the language of their Slack client, as Telegram reports its users' language."""
        return Respondent(channel=CHANNEL, user_id=user_id, language=await self.locale_of(user_id))

    async def locale_of(self, user_id: str) -> str | None:
        """The user's locale (users.info with include_locale: "es-ES"), remembered for an hour; None when Slack
        does not say in time."""
        fetched_at, locale = self.locales.get(user_id, (-math.inf, None))
        if time.monotonic() - fetched_at <= LOCALE_CACHE_SECONDS:
            return locale
        try:
            answer = await asyncio.wait_for(
                self.client.users_info(user=user_id, include_locale=True), LOCALE_WAIT_SECONDS
            )
        except SlackApiError as error:
            log_api_error("users.info", error)
            return None
        except TimeoutError:
            log.warning("slack users.info: no answer within %.1f s; the survey's language is used", LOCALE_WAIT_SECONDS)
            return None
        user = answer.get("user")
        locale = user.get("locale") if isinstance(user, dict) else None
        now = time.monotonic()
        self.locales[user_id] = (now, locale if isinstance(locale, str) else None)
        if len(self.locales) > LOCALES_KEPT:
            self.locales = {user: kept for user, kept in self.locales.items() if now - kept[0] <= LOCALE_CACHE_SECONDS}
        return self.locales[user_id][1]

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


LazyListener = Callable[..., Awaitable[None]]
arg_names = cache(get_arg_names_of_callable)  # bolt reads a lazy listener's signature on every request


class TrackedLazyListeners(AsyncLazyListenerRunner):
    """Runs bolt's lazy listeners (the work after the acknowledgement) as tasks the channel waits for on shutdown,
    and hands their failures to the app's error handler. bolt's own runner leaves the tasks untracked and only logs
    a failure, with its message (which may quote a person's words)."""

    def __init__(self, listeners: AsyncioListenerRunner, tasks: set[asyncio.Task[None]]) -> None:
        self.listeners = listeners  # holds the error handler that @app.error sets
        self.logger = listeners.logger
        self.tasks = tasks

    def start(self, function: LazyListener, request: AsyncBoltRequest) -> None:
        task = asyncio.create_task(self.run(function, request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, function: LazyListener, request: AsyncBoltRequest) -> None:
        arguments = build_async_required_kwargs(
            logger=self.logger,
            required_arg_names=arg_names(function),
            request=request,
            response=None,
            this_func=function,
        )
        try:
            await function(**arguments)
        except Exception as error:
            await self.listeners.listener_error_handler.handle(error=error, request=request, response=None)


class SharedLazyRequests(AsyncioListenerRunner):
    """bolt's listener runner, but a lazy listener gets the acknowledged request itself (a context of its own)
    rather than a deep copy: bolt parses the body again and deep-copies the request with all it reaches (the Web API
    client, the stored answer), a tenth of a button press's CPU. The listeners acknowledge before their lazy parts
    start (process_before_response), and the lazy parts only read the request."""

    @classmethod
    def taking_over(cls, runner: AsyncioListenerRunner, tasks: set[asyncio.Task[None]]) -> SharedLazyRequests:
        """A runner in place of `runner`, its lazy listeners run as tracked tasks."""
        shared = cls(
            logger=runner.logger,
            process_before_response=runner.process_before_response,
            listener_error_handler=runner.listener_error_handler,
            listener_start_handler=runner.listener_start_handler,
            listener_completion_handler=runner.listener_completion_handler,
            lazy_listener_runner=runner.lazy_listener_runner,
        )
        shared.lazy_listener_runner = TrackedLazyListeners(shared, tasks)
        return shared

    def _build_lazy_request(self, request: AsyncBoltRequest, lazy_func_name: str) -> AsyncBoltRequest:
        lazy = copy.copy(request)  # the parsed body and headers, shared
        lazy.context = AsyncBoltContext(request.context)  # a dict of its own: bolt and the listeners add to it
        lazy.lazy_only, lazy.lazy_function_name = True, lazy_func_name
        lazy.context["listener_runner"] = self
        return lazy


ANSWERED = "feedbackbot_answered"  # the context key under which a listener leaves its stored event for its lazy part


def remember_answer(context: AsyncBoltContext, event: Event, reply: Reply) -> None:
    """Leaves the stored event and its reply to the listener's lazy part (bolt hands it a copy of the context)."""
    context[ANSWERED] = (event, reply)


def answered(context: AsyncBoltContext) -> tuple[Event, Reply] | None:
    """What the acknowledging listener stored; None when it stored nothing (it failed, or had nothing to store)."""
    stored: tuple[Event, Reply] | None = context.get(ANSWERED)
    return stored


async def acknowledge(ack: AsyncAck) -> None:
    """The listener of requests with nothing to store: their work is all in the lazy part."""
    await ack()


def reply_in_dm(services: Services) -> LazyListener:
    """A lazy listener posting the stored event's reply in the person's DM, outside any thread."""

    async def post_reply_in_dm(context: AsyncBoltContext) -> None:
        if stored := answered(context):
            await deliver(services, *stored, thread_ts=None)

    return post_reply_in_dm


async def report_failure(notices: StaffNotices, what: str, error: Exception, request_kind: str) -> None:
    """Logs the failure and tells staff (rate-limited, without the error's message or the person); a person or
    channel that cannot be written to is only logged: staff can do nothing about it."""
    log_failure(what, error)
    if not (isinstance(error, SlackApiError) and error.response.get("error") in UNDELIVERABLE):
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
        log_api_error(api_method(error), error)
        return
    log.error("slack %s failed: %s at %s", what, type(error).__name__, raised_at(error))
    log.debug("slack %s failed", what, exc_info=error)


def api_method(error: SlackApiError) -> str:
    """The Web API method that answered with the error, from the URL slack_sdk called."""
    return str(error.response.api_url).rsplit("/", 1)[-1]


def log_api_error(method: str, error: SlackApiError) -> None:
    """One clear line, naming the method and Slack's error code but no person."""
    code = error.response.get("error", "unknown_error")
    if code in UNDELIVERABLE:
        log.warning("slack %s: %s (the person or channel cannot be reached; nothing retried)", method, code)
    else:
        log.error("slack %s failed: %s", method, code)


def send_failure(method: str, error: SlackApiError, *, to_person: bool) -> SendResult:
    """What a failed send of the outbox comes to, logged once: a person or channel Slack cannot reach fails (the
    person marked unreachable), anything else is tried again, after the wait a rate limit asks for."""
    log_api_error(method, error)
    code = str(error.response.get("error"))
    if code in UNDELIVERABLE:
        return Unreachable(code) if to_person else Refused(code)
    retry_after = error.response.headers.get("Retry-After") if code == "ratelimited" else None
    return RetryLater(code, after=float(retry_after) if retry_after else None)


async def deliver(services: Services, event: Event, reply: Reply, thread_ts: str | None) -> None:
    """Posts the reply's messages in the person's DM (the survey's thread), each once, even if Slack retries."""
    if event.event_id in services.delivering:
        return  # a retry of an event whose reply is being posted right now
    services.delivering.add(event.event_id)
    try:
        thread = DirectThread(services, event.who.user_id, thread_ts)
        posts = [partial(thread.post, message) for message in as_messages(reply.prompts)]
        await services.replies.send(CHANNEL, event.event_id, posts, to=event.who, redelivered=reply.duplicate)
    finally:
        services.delivering.discard(event.event_id)


@dataclass
class DirectThread:
    """The thread of a person's DM that a reply goes into; without one, the first message posted starts it."""

    services: Services
    user_id: str
    ts: str | None

    async def post(self, message: Message) -> SendResult:
        await self.services.pacer.wait(self.user_id)
        try:
            response = await self.services.client.chat_postMessage(
                channel=self.user_id,
                blocks=blocks.message_blocks(message),
                text=blocks.message_text(message),
                thread_ts=self.ts,
            )
        except SlackApiError as error:
            log_api_error("chat.postMessage", error)
            code = error.response.get("error")
            if code in UNDELIVERABLE:
                return Unreachable(str(code))
            raise
        self.ts = self.ts or str(response["ts"])  # later messages of the survey go into its thread
        return Sent(str(response["ts"]))


def event_key(body: dict[str, Any]) -> str:
    """The idempotency key of an inbound request: Slack's event id, or the interaction's trigger id."""
    return f"{CHANNEL}-{body.get('event_id') or body.get('trigger_id') or body['actions'][0]['action_ts']}"
