"""The Slack channel on bolt: its listeners, served at POST /slack/events or over Socket Mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import aiohttp
from slack_bolt import BoltResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot import correlation
from bot.app import Core
from bot.cases import Cases
from bot.channels import Capability
from bot.outbound import (
    OutboundMessage,
    Outcome,
    Refused,
    SendCounts,
    SendResult,
    StaffDigest,
    SurveyInvitation,
    SurveyReminder,
    WebhookEvent,
)
from bot.staff_notices import raised_at
from handlers.slack import actions, cases, commands, digest, events, groups, inbound, invitations, views
from handlers.slack.common import (
    CHANNEL,
    PAYLOAD_ERRORS,
    Services,
    SharedLazyRequests,
    report_failure,
    request_kind,
)
from handlers.slack.settings import SlackSettings
from storage.db import Database

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE_SECONDS = 10
AFTER_ACK = "request, after its acknowledgement"  # what staff are told was being handled
log = logging.getLogger("handlers.slack")


def quiet_logger(name: str) -> logging.Logger:
    """bolt and slack_sdk log whole payloads (people's ids included) at INFO and DEBUG: theirs stop at WARNING."""
    logger = logging.getLogger(name)
    logger.setLevel(max(logging.WARNING, logger.level))
    return logger


def register(app: AsyncApp, services: Services, case_work: Cases, database: Database) -> None:
    """Every listener, by surface; case buttons before the catch-all of actions."""
    app._async_listener_runner = SharedLazyRequests.taking_over(app.listener_runner, services.tasks)  # no setting
    commands.register(app, services)
    cases.register(app, services, case_work)
    actions.register(app, services)
    views.register(app, services)
    events.register(app, services, case_work, database)

    @app.middleware
    async def correlate(body: dict[str, Any], next_: Callable[[], Awaitable[None]]) -> None:
        """Gives the request its correlation id: Slack's event id, or else the one the route gave it, or a new one
        (Socket Mode). bolt runs the listeners after the middleware returned, in the same task, and each request
        has a task of its own (uvicorn's per request, slack_sdk's per Socket Mode message), which the id ends with;
        lazy listeners start inside and carry it on."""
        correlation.begin(event_correlation_id(body) or correlation.current() or correlation.new_id(CHANNEL))
        await next_()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], request: AsyncBoltRequest) -> BoltResponse | None:
        """The one error handler: a payload the listener cannot read is refused with 400; anything else (a database
        outage) is logged, told to staff and answered 500, so that Slack retries. A lazy listener's failure, after
        the acknowledgement, is logged and told to staff."""
        if request.lazy_only:
            await report_failure(services.notices, "work after the acknowledgement", error, AFTER_ACK)
            return None
        if isinstance(error, BoltUnhandledRequestError):
            log.warning("slack: no listener takes this request; answered 404")
            return None
        if isinstance(error, PAYLOAD_ERRORS):
            log.warning(
                "slack: dropped a request its listener cannot read (%s at %s)", type(error).__name__, raised_at(error)
            )
            log.debug("slack: the listener could not read the request", exc_info=error)  # should it be a bug
            return BoltResponse(status=400, body="")
        await report_failure(services.notices, "listener", error, request_kind(body))
        return None


class CountedRateLimits(AsyncRetryHandler):
    """Counts every 429 of the Web API as a rate-limited send; retries none itself."""

    def __init__(self, counts: SendCounts) -> None:
        super().__init__()
        self.counts = counts

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            self.counts[CHANNEL, Outcome.RATE_LIMITED] += 1
        return False


def event_correlation_id(body: dict[str, Any]) -> str | None:
    """An Events API request's correlation id, from Slack's id of the event; interactions and slash commands have
    no such id (only ones that name the person or open a modal), so they get a random one."""
    event_id = body.get("event_id")
    return f"{CHANNEL}-{event_id}" if isinstance(event_id, str) else None


class SlackChannel:
    """bolt's AsyncApp on the core, served at POST /slack/events or over Socket Mode."""

    name = CHANNEL
    capabilities = frozenset({Capability.BUTTONS, Capability.EDITS, Capability.THREADS, Capability.FILES})

    def __init__(self, core: Core, settings: SlackSettings) -> None:
        assert settings.bot_token is not None
        self.settings = settings
        client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_base_url,
            logger=quiet_logger("slack_sdk.web.async_client"),
            retry_handlers=[
                CountedRateLimits(core.sends),  # first: it sees every 429, then the next handler waits it out
                AsyncConnectionErrorRetryHandler(),
                AsyncRateLimitErrorRetryHandler(max_retry_count=5),  # waits out Retry-After
                AsyncServerErrorRetryHandler(max_retry_count=3),
            ],
        )
        secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
        # Listeners store what they receive before acknowledging (so Slack retries what failed), then leave the
        # slow part (posting replies) to their lazy listeners (see register).
        self.app = AsyncApp(
            name="feedbackbot",  # bolt would otherwise walk the whole call stack for its caller's file name
            client=client,
            signing_secret=secret,
            logger=quiet_logger("slack_bolt.AsyncApp"),
            process_before_response=True,
            raise_error_for_unhandled_request=True,  # to on_error: one line, not bolt's payload and suggestion
        )
        replies = core.replies
        self.services = Services(
            engine=core.engine, settings=settings, client=client, notices=core.notices, replies=replies
        )
        self.cases = core.cases
        self.invitations = core.invitations
        self.reminders = core.reminders
        register(self.app, self.services, core.cases, core.database)
        self.gate = inbound.Gate(secret)
        self.socket: AsyncSocketModeHandler | None = None
        self.bot_user_id: str | None = None  # asked of auth.test when first needed

    def routes(self) -> Sequence[BaseRoute]:
        """POST /slack/events (events, interactivity and slash commands) on the bot's HTTP server."""
        return [Route(EVENTS_PATH, self.events, methods=["POST"])]

    async def events(self, request: Request) -> Response:
        """The signature is checked before anything is parsed; bolt checks it again (one more HMAC of a small body),
        as a defence should the route ever change. bolt's adapter then runs the listener, which stores,
        acknowledges, then posts. Everything logged meanwhile carries the request's correlation id."""
        with correlation.correlated(correlation.new_id(CHANNEL)):
            body = await request.body()
            if not self.gate.signed(body, request.headers):
                log.warning("slack: refused a request with a missing, wrong or stale signature")
                return Response(status_code=401)
            try:
                bolt_request = inbound.parse(request, body)
            except inbound.Malformed as error:
                log.warning("slack: dropped a malformed request (%s)", error)
                return Response(status_code=400)
            return to_starlette_response(await self.app.async_dispatch(bolt_request))

    async def send(self, message: OutboundMessage) -> SendResult:
        """Case alerts, updates, error notices and the digest for staff, outcomes for customers, survey invitations
        and reminders."""
        if isinstance(message, SurveyInvitation):
            return await invitations.send(self.services, self.invitations, self.reminders, message)
        if isinstance(message, SurveyReminder):
            return await invitations.send_reminder(self.services, self.reminders, message)
        if isinstance(message, StaffDigest):
            return await digest.send(self.services, message)
        if isinstance(message, WebhookEvent):  # delivered over HTTP, never to a chat
            return Refused(f"{message.kind} is not a chat message")
        return await cases.send(self.services, self.cases, message)

    async def group_members(self, group: str) -> Sequence[str]:
        """The members of a channel ("C…", "G…") or user group ("S…"), for a pulse (see bot.channels.GroupMembers)."""
        client = self.services.client
        if self.bot_user_id is None:
            self.bot_user_id = str((await client.auth_test())["user_id"])
        return await groups.group_members(client, group, self.bot_user_id)

    async def start(self) -> None:
        # One connection pool for every Web API call: slack_sdk would open a session, and a connection, per call
        # (a fifth of a button press's CPU). bolt's per-request clients take the app client's session.
        client = self.services.client
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
        if self.settings.mode == "socket":
            assert self.settings.app_token is not None
            self.socket = AsyncSocketModeHandler(self.app, self.settings.app_token.get_secret_value())
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack channel started (%s)", self.settings.mode)

    async def stop(self) -> None:
        """Closes Socket Mode and lets the work of acknowledged requests finish."""
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        if self.services.tasks:
            await asyncio.wait(self.services.tasks, timeout=SHUTDOWN_GRACE_SECONDS)
        if self.services.client.session is not None:
            await self.services.client.session.close()
