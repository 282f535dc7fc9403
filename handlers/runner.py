"""`feedbackbot run`: one process, one event loop, one HTTP server, and the channels beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from contextlib import AsyncExitStack

import uvicorn
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Core
from bot.outbox import Dispatcher, Sender
from handlers.console import ConsoleChannel, stdin_lines
from handlers.web import create_app

SWEEP_SECONDS = 60
log = logging.getLogger(__name__)


async def sweep(core: Core) -> None:
    """Once a minute: closes surveys past their expiry as partial, escalates overdue cases."""
    while True:
        try:
            closed = await core.engine.expire_overdue()
            escalated = await core.cases.escalate_overdue()
        except (SQLAlchemyError, OSError) as error:  # a database outage must not stop the bot
            log.error("the minute's sweep failed (%s); trying again in a minute", error)
        else:
            if closed or escalated:
                log.info("closed %d expired surveys as partial, escalated %d overdue cases", closed, escalated)
        await asyncio.sleep(SWEEP_SECONDS)


async def serve(core: Core) -> None:
    """Runs until stopped: the chat channels that have a token, or else the terminal channel."""
    api = create_app(core.database)
    senders: dict[str, Sender] = {}
    async with AsyncExitStack() as channels:
        if core.settings.telegram.token is not None:
            from handlers.telegram import TelegramChannel  # loaded only when configured

            telegram = TelegramChannel(core)
            telegram.mount(api)
            await telegram.start()
            channels.push_async_callback(telegram.stop)
            senders["telegram"] = telegram.send_outbox
        if core.settings.slack.bot_token is not None:
            from handlers.slack import SlackChannel  # loaded only when configured

            slack = SlackChannel(core)
            slack.mount(api)
            await slack.start()
            channels.push_async_callback(slack.stop)
            senders["slack"] = slack.send_outbox
        dispatcher = asyncio.create_task(Dispatcher(core.database, senders).run_forever())
        channels.callback(dispatcher.cancel)
        await serve_http(core, api)


async def serve_http(core: Core, api: FastAPI) -> None:
    """The HTTP server and the expiry sweep; with no chat platform, quitting the terminal channel stops both."""
    settings = core.settings
    server = uvicorn.Server(
        uvicorn.Config(api, host=settings.server.host, port=settings.server.port, log_level="warning")
    )
    log.info("HTTP server on http://%s:%d (GET /healthz)", settings.server.host, settings.server.port)
    async with asyncio.TaskGroup() as tasks:
        sweeper = tasks.create_task(sweep(core))
        serving = tasks.create_task(server.serve())
        if not settings.has_chat_platform:
            log.warning("no Telegram or Slack token configured: starting the terminal channel")
            console = ConsoleChannel(core.engine, first_survey=settings.surveys.default, out=sys.stdout)
            await console.run(stdin_lines())
            server.should_exit = True
        await serving
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
