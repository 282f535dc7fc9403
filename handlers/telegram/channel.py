"""The Telegram channel on python-telegram-bot: its handlers, the inbox that feeds them, the webhook route."""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
import ssl
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.app import Core
from bot.channels import Capability
from bot.correlation import correlated
from bot.i18n import FALLBACK_LANGUAGE, languages, translate
from bot.outbound import (
    OutboundMessage,
    Refused,
    SendResult,
    StaffDigest,
    SurveyInvitation,
    SurveyReminder,
    WebhookEvent,
)
from bot.staff_notices import raised_at
from handlers.telegram import callbacks, cases, commands, digest, invitations, messages, render
from handlers.telegram.common import Context, Services
from handlers.telegram.delivery import Delivery, Sender
from handlers.telegram.inbox import (
    CHANNEL,
    DATABASE_ERRORS,
    RETRY_UNHANDLED_SECONDS,
    Inbox,
    kind_of,
    parse_update,
    update_event_id,
)
from handlers.telegram.settings import TelegramSettings
from handlers.telegram.transport import AiohttpRequest

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLLING, RETRY, FLUSH = "telegram polling", "telegram retry of stored updates", "telegram handled marks"
# Bot API calls in flight at once: Telegram takes about 30 messages a second (plus edits and button answers), each
# answered within a few hundred milliseconds, so 16 keep the limit busy even from far away.
CONNECTIONS = 16
COMMANDS = ("start", "survey", "complain", "language", "stop", "forget", "help")
log = logging.getLogger("handlers.telegram")  # the channel's lines under its package's name, as before
os.environ.setdefault(
    "PTB_TIMEDELTA", "true"
)  # durations as timedelta (read at run time), without deprecation warnings
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class StatelessApplication(TelegramApp):
    """python-telegram-bot's Application with nothing marked for a persistence: it marks the chat and user of every
    update in two sets that only a persistence empties, so without one (the state is in the database) they grew by
    each new customer for the life of the process (13 MB at 100,000 customers, bench/hotpath.py)."""

    def _mark_for_persistence_update(self, *, update: object | None = None, job: object | None = None) -> None:
        return


def register(application: TelegramApp, staff_chat_id: int | None) -> None:
    """Adds every handler. Order matters within the group: the first matching handler wins."""
    private = filters.ChatType.PRIVATE
    application.add_handler(ChatMemberHandler(messages.membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    group_commands = filters.ChatType.GROUPS & filters.COMMAND
    if staff_chat_id is not None:
        group_commands = group_commands & ~filters.Chat(staff_chat_id)
        staff_replies = filters.Chat(staff_chat_id) & filters.REPLY & filters.TEXT & filters.UpdateType.MESSAGE
        application.add_handler(MessageHandler(staff_replies, cases.staff_replied))
    application.add_handler(MessageHandler(group_commands, messages.in_group))
    for name, handler in (
        ("start", commands.start),
        ("survey", commands.choose_survey),
        ("complain", commands.complain),
        ("language", commands.choose_language),
        ("stop", commands.stop),
        ("forget", commands.forget),
        ("help", commands.show_help),
    ):
        application.add_handler(CommandHandler(name, handler, filters=private & filters.UpdateType.MESSAGE))
    application.add_handler(CallbackQueryHandler(callbacks.answer, pattern=f"^{render.ANSWER}\\|"))
    application.add_handler(CallbackQueryHandler(callbacks.survey_chosen, pattern=f"^{render.SURVEY}\\|[^|]+$"))
    application.add_handler(CallbackQueryHandler(callbacks.language_chosen, pattern=f"^{render.LANGUAGE}\\|[^|]+$"))
    application.add_handler(
        CallbackQueryHandler(callbacks.confirmed, pattern=f"^{render.CONFIRM}\\|(stop|forget)\\|(yes|no)$")
    )
    application.add_handler(
        CallbackQueryHandler(cases.outcome_answered, pattern=f"^{cases.OUTCOME}\\|\\d+\\|(yes|no)$")
    )
    application.add_handler(CallbackQueryHandler(cases.staff_pressed, pattern=f"^{cases.STAFF}\\|"))
    application.add_handler(CallbackQueryHandler(callbacks.refuse))  # forged or from an older version
    edited_text = filters.UpdateType.EDITED_MESSAGE & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(private & edited_text, messages.edited_answer))
    new_message = private & filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(new_message & filters.COMMAND, commands.show_help))  # an unknown command
    application.add_handler(MessageHandler(new_message & filters.TEXT, messages.text_answer))
    application.add_handler(MessageHandler(new_message, messages.not_text))  # stickers, photos, voice, places...


def update_kind(update: object) -> str:
    """What the update carries (message, callback_query, ...): its one field of Update.ALL_TYPES."""
    return kind_of(update) if isinstance(update, Update) else "job"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's CA bundle), made once per process: each session would otherwise load
    the bundle again."""
    return httpx.create_ssl_context()


def bot_api_request(timeout: float) -> AiohttpRequest:
    """The requests of every Bot API call but getUpdates (one long poll at a time, its own connection), with
    `timeout` and CONNECTIONS of them at once."""
    return AiohttpRequest(connections=CONNECTIONS, timeout=timeout, tls=tls_context())


class TelegramChannel:
    """Builds python-telegram-bot's Application on the core, feeds it from the inbox and serves the webhook."""

    name = CHANNEL
    capabilities = frozenset({Capability.BUTTONS, Capability.EDITS, Capability.FILES})

    def __init__(self, core: Core, settings: TelegramSettings) -> None:
        assert settings.token is not None
        self.settings = settings
        self.public_url = core.settings.server.public_url
        self.application: TelegramApp = (
            ApplicationBuilder()
            .token(settings.token.get_secret_value())
            .base_url(settings.api_base_url)
            .updater(None)  # the inbox polls, so that nothing is confirmed before it is stored
            .request(bot_api_request(settings.request_timeout))
            .get_updates_request(AiohttpRequest(connections=1, timeout=settings.request_timeout, tls=tls_context()))
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=settings.max_messages_per_second, group_max_rate=20, group_time_period=60
                )
            )
            .context_types(ContextTypes(bot_data=Services))
            .application_class(StatelessApplication)
            .build()
        )
        self.services: Services = self.application.bot_data
        sender = Sender(self.application.bot, settings.per_chat_interval, core.sends)
        self.services.engine = core.engine
        self.services.people = core.engine.people
        self.services.cases = core.cases
        self.services.sender = sender
        self.services.delivery = Delivery(core.replies, sender)
        self.services.surveys = core.surveys
        self.services.links = core.links
        self.services.default_survey = core.settings.surveys.default
        self.services.staff_chat_id = settings.staff_chat_id
        register(self.application, settings.staff_chat_id)
        self.application.add_error_handler(self.on_error)
        self.inbox = Inbox(core.database, self.application.bot, self.handle)
        self.loops = core.loops
        self.notices = core.notices
        self.invitations = core.invitations
        self.reminders = core.reminders

    async def handle(self, update: Update) -> bool:
        """Runs the handlers; False when one failed, so the inbox keeps the update for a retry."""
        self.services.failed_updates.discard(update.update_id)
        await self.application.process_update(update)
        return update.update_id not in self.services.failed_updates

    async def on_error(self, update: object, context: Context) -> None:
        """The one error handler: log, tell staff, and keep the update for a retry (given up after a few attempts)."""
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(context.error, DATABASE_ERRORS):  # an outage: one line per update, not a traceback each
            log.warning(
                "telegram update %s failed: the database is unreachable (%s)", update_id, type(context.error).__name__
            )
        elif context.error is not None:  # its message may quote the person: only its type and place above DEBUG
            error = context.error
            log.error("telegram update %s failed: %s at %s", update_id, type(error).__name__, raised_at(error))
            log.debug("telegram update %s failed", update_id, exc_info=error)
        if update_id is not None:
            self.services.failed_updates.add(update_id)
        if context.error is not None:
            await self.notices.handler_failed(CHANNEL, context.error, update_kind(update))

    async def send(self, message: OutboundMessage) -> SendResult:
        """Case alerts, steps, error notices and the digest for staff, outcomes for customers, survey invitations and
        reminders."""
        if isinstance(message, SurveyInvitation):
            return await invitations.send(self.services.delivery, self.invitations, message)
        if isinstance(message, SurveyReminder):
            return await invitations.send_reminder(self.services.delivery, self.reminders, message)
        if isinstance(message, StaffDigest):
            return await digest.send(self.services.delivery, message)
        if isinstance(message, WebhookEvent):  # delivered over HTTP, never to a chat
            return Refused(f"{message.kind} is not a chat message")
        return await cases.send(self.services.delivery, self.services.cases, message)

    def routes(self) -> Sequence[BaseRoute]:
        """POST /telegram/webhook on the bot's HTTP server."""
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    async def webhook(self, request: Request) -> Response:
        """Stores the update, then answers 200; Telegram delivers it again after any other answer."""
        secret = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else ""
        if not secret or not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            log.warning("telegram webhook: refused a request without the right secret token")
            return Response(status_code=403)
        try:
            received = parse_update(json.loads(await request.body()), self.application.bot)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
            received = None
        if received is None:
            log.warning("telegram webhook: refused a body that is not a Telegram update")
            return Response(status_code=400)
        update_id = received.update.update_id
        with correlated(update_event_id(update_id)):
            try:
                await self.inbox.receive(received)
            except (SQLAlchemyError, OSError):
                log.exception("telegram webhook: could not store update %s; Telegram will retry", update_id)
                return Response(status_code=503)
        return Response(status_code=200)

    async def start(self) -> None:
        """Connects, publishes the command menu, registers the webhook or starts polling, resumes stored updates."""
        await self.application.initialize()
        await self.application.start()
        await self.services.delivery.load_unreachable()
        await self._publish_commands()
        if self.settings.mode == "webhook":
            if self.public_url:
                url = self.public_url.rstrip("/") + WEBHOOK_PATH
                secret = self.settings.webhook_secret
                await self.application.bot.set_webhook(
                    url, secret_token=secret.get_secret_value() if secret else None, allowed_updates=Update.ALL_TYPES
                )
                log.info("telegram webhook registered at %s", url)
        else:
            self.loops.start(POLLING, self.inbox.poll_once)
        resumed = await self.inbox.resubmit_unhandled()
        if resumed:
            log.info("telegram: resuming %d stored updates", resumed)
        self.loops.start(RETRY, self.inbox.retry_round, first_wait=RETRY_UNHANDLED_SECONDS)
        self.loops.start(FLUSH, self.inbox.flush_round)
        log.info("telegram channel started (%s) as @%s", self.settings.mode, self.application.bot.username)

    async def _publish_commands(self) -> None:
        for language in languages():
            menu = [BotCommand(name, translate(f"command_{name}", language)) for name in COMMANDS]
            code = None if language == FALLBACK_LANGUAGE else language
            await self.application.bot.set_my_commands(menu, language_code=code)

    async def stop(self) -> None:
        await self.loops.stop(POLLING, RETRY, FLUSH)
        await self.inbox.drain()
        await self.application.stop()
        await self.application.shutdown()
