"""`feedbackbot run`: one process, one event loop, one HTTP server, and the channels beside it."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from contextlib import AsyncExitStack

import uvicorn
from fastapi import FastAPI

from bot.app import Core
from bot.config import ConfigError
from bot.outbox import DISPATCHER_LOOP, Dispatcher, Sender
from handlers.console import ConsoleChannel, stdin_lines
from handlers.web import create_app

SWEEP_SECONDS = 60
SWEEP_LOOP = "the minute's sweep"
log = logging.getLogger(__name__)


async def sweep(core: Core) -> float:
    """The minute's sweep: closes surveys past their expiry as partial, escalates overdue cases."""
    closed = await core.engine.conversations.expire_overdue()
    escalated = await core.cases.escalate_overdue()
    if closed or escalated:
        log.info("closed %d expired surveys as partial, escalated %d overdue cases", closed, escalated)
    return SWEEP_SECONDS


def listen(host: str, port: int) -> socket.socket:
    """The HTTP server's socket, bound here so that a taken address is one line naming the key that moves it."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:  # the port is taken, or the host is not an address of this machine
        listener.close()
        key = "port" if error.errno == errno.EADDRINUSE else "host"
        raise ConfigError(
            f"[server] {key}: cannot listen on {host}:{port} ({error.strerror}); "
            f"choose another with [server] {key} or FEEDBACKBOT_SERVER__{key.upper()}"
        ) from None
    return listener


async def serve(core: Core) -> None:
    """Runs until stopped: the chat channels that have a token, or else the terminal channel."""
    server = core.settings.server
    listener = listen(server.host, server.port)
    api = create_app(core.database, loops=core.loops, server=server)
    senders: dict[str, Sender] = {}
    async with AsyncExitStack() as channels:
        channels.callback(listener.close)
        if core.settings.telegram.token is not None:
            from handlers.telegram import TelegramChannel  # loaded only when configured

            telegram = TelegramChannel(core)
            telegram.mount(api)
            await telegram.start()
            channels.push_async_callback(telegram.stop)
            senders["telegram"] = telegram.send
        if core.settings.slack.bot_token is not None:
            from handlers.slack import SlackChannel  # loaded only when configured

            slack = SlackChannel(core)
            slack.mount(api)
            await slack.start()
            channels.push_async_callback(slack.stop)
            senders["slack"] = slack.send
        core.loops.start(DISPATCHER_LOOP, Dispatcher(core.database, senders).step)
        core.loops.start(SWEEP_LOOP, lambda: sweep(core))
        channels.push_async_callback(core.loops.stop, DISPATCHER_LOOP, SWEEP_LOOP)  # before the channels stop
        await serve_http(core, api, listener)


async def serve_http(core: Core, api: FastAPI, listener: socket.socket) -> None:
    """The HTTP server; with no chat platform, quitting the terminal channel stops it."""
    settings = core.settings
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning"))
    host, port = listener.getsockname()[:2]
    log.info("HTTP server on http://%s:%d (GET /healthz)", host, port)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve(sockets=[listener]))
        if not settings.has_chat_platform:
            log.warning("no Telegram or Slack token configured: starting the terminal channel")
            console = ConsoleChannel(core.engine, first_survey=settings.surveys.default, out=sys.stdout)
            await console.run(stdin_lines())
            server.should_exit = True
        await serving
