"""`feedbackbot run`: one process, one event loop, one HTTP server, and the channels beside it."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, closing, contextmanager
from types import FrameType
from typing import Any, NoReturn

import uvicorn
from starlette.types import ASGIApp

from bot.app import Core
from bot.channels import Channel, GroupMembers
from bot.cli import installed_version, min_group_size
from bot.config import ConfigError
from bot.correlation import correlated, new_id
from bot.digest import WeeklyDigest, destinations
from bot.outbox import DISPATCHER_LOOP, Dispatcher
from bot.pulses import PULSES_LOOP, Pulses
from bot.retention import Retention
from handlers.console import ConsoleChannel, stdin_lines
from handlers.metrics import Metrics
from handlers.registry import CHANNELS, Registration
from handlers.web import create_app
from storage.migrate import current_revision

SWEEP_SECONDS = 60
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_UNFINISHED = 1  # stopped by a second signal or the bound, not gracefully
SWEEP_LOOP = "the minute's sweep"
BACKLOG = 2048  # connections waiting to be accepted: uvicorn's default, which it sets again once it serves
log = logging.getLogger(__name__)


async def sweep(core: Core) -> float:
    """The minute's sweep: closes surveys past their expiry as partial, queues the survey reminders due, escalates
    overdue cases, prunes bookkeeping rows past their deduplication window and anonymises people past the retention
    window. Each round has its own correlation id, which the reminders and escalations it queues carry to their
    sends."""
    with correlated(new_id("sweep")):
        closed = await core.engine.conversations.expire_overdue()
        reminded = await core.reminders.sweep()
        escalated = await core.cases.escalate_overdue()
        engine = core.engine
        retention = Retention(core.database, engine.people, engine.keys, core.settings.privacy, engine.clock)
        removed = await retention.sweep()
        await queue_the_digest(core)
        core.swept.add(escalated, removed)
        (inbox, events, outbox), forgotten, texts = removed
        if closed or reminded or escalated or inbox or events or outbox or forgotten or texts:
            log.info(
                "closed %d expired surveys as partial, queued %d survey reminders, escalated %d overdue cases, "
                "pruned %d handled inbox updates, %d inbound events and %d outbox messages, anonymised %d inactive "
                "people and %d old free texts",
                *(closed, reminded, escalated, inbox, events, outbox, forgotten, texts),
            )
    return SWEEP_SECONDS


def weekly_digest(core: Core) -> WeeklyDigest:
    settings = core.settings
    return WeeklyDigest(
        core.database,
        core.surveys,
        settings.digest,
        destinations(settings),
        core.engine.clock,
        min_group_size(settings),
    )


def listen(host: str, port: int) -> socket.socket:
    """The HTTP server's socket, bound here so that a taken address is one line naming the key that moves it, and
    listening at once: a request that comes while the channels start (a health check, Telegram's first webhook
    call) waits for the server instead of being refused."""
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
    listener.listen(BACKLOG)
    return listener


async def serve(core: Core, registry: Sequence[Registration[Any]] = CHANNELS) -> None:
    """Runs until stopped: the configured channels of the registry, or else the terminal channel when stdin is a
    terminal (without one, the HTTP server alone). SIGTERM or SIGINT stops it gracefully within
    `[server] shutdown_seconds` (see `GracefulServer`)."""
    server = core.settings.server
    with closing(listen(server.host, server.port)) as listener:
        revision = await current_revision(core.database)
        log.info("starting version %s, database schema at revision %s", installed_version(), revision)
        started = asyncio.Event()
        async with AsyncExitStack() as bound, running_channels(core, registry, started) as channels:
            routes = [route for channel in channels for route in channel.routes()]
            metrics = Metrics(
                core.database,
                sends=core.sends,
                events=core.engine.tallies,
                swept=core.swept,
                deliveries=core.deliveries,
            )
            api = create_app(
                core.database,
                loops=core.loops,
                server=server,
                routes=routes,
                metrics=metrics,
                channels_started=started.is_set,
                stopping=lambda: http.should_exit,
                api=http_api(core),
                dashboard=dashboard(core),
            )
            # No log_config: uvicorn's lines go through the root logger's format. No WebSocket: no route speaks
            # it, and "auto" would load wsproto where a test dependency installed it (a production install has none).
            config = uvicorn.Config(
                api, log_config=None, log_level="warning", timeout_graceful_shutdown=server.shutdown_seconds, ws="none"
            )
            http = GracefulServer(config)
            with_terminal = not channels and has_terminal()
            if not channels:
                names = " or ".join(entry.name for entry in registry)
                if with_terminal:
                    log.warning("no %s channel configured: starting the terminal channel", names)
                else:
                    log.warning("no %s channel configured and no terminal: serving HTTP until stopped", names)
            await serve_http(core, http, listener, with_terminal=with_terminal)
            bound.enter_context(bounded_stop(http, server.shutdown_seconds))  # the channels stop within the rest
        log.info("stopped")


async def queue_the_digest(core: Core) -> None:
    """The weekly digest, when due. Its failure is its own: the sweep's other work goes on and is counted, and the
    line names the digest (its traceback at DEBUG)."""
    try:
        if await weekly_digest(core).sweep():
            log.info("queued the weekly digest for the staff destinations")
    except Exception as error:
        log.error("the weekly digest could not be built: %s", type(error).__name__)
        log.debug("the weekly digest's failure", exc_info=True)


def has_terminal() -> bool:
    """Whether someone may type at this process: under systemd or in a container stdin is /dev/null or a pipe, and
    the terminal channel would end at once, taking the HTTP server with it."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    # `feedbackbot run &` from a shell: reading the terminal would stop the whole process (SIGTTIN), HTTP included.
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:  # a terminal, but not this process's controlling one: reading it stops nothing
        return True


def http_api(core: Core) -> ASGIApp | None:
    """The HTTP API when API keys are configured; FastAPI is imported only then, sparing every other start."""
    if not core.settings.api.keys:
        return None
    from handlers.api.app import build_api

    log.info("HTTP API on /api/v1 (described at /docs) for %d keys", len(core.settings.api.keys))
    return build_api(core)


def dashboard(core: Core) -> ASGIApp | None:
    """The dashboard when its users are configured; jinja2 and plotly are imported only then."""
    if not core.settings.dashboard.enabled:
        return None
    from handlers.dashboard.app import build_dashboard

    log.info("dashboard on /dashboard for %d users", len(core.settings.dashboard.users))
    return build_dashboard(core)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopped by SIGTERM or SIGINT: it stops accepting, waits for the requests in flight at most
    `timeout_graceful_shutdown` seconds, and a second signal ends the wait at once. Unlike uvicorn's own handler,
    this one does not raise the signal again once the server is done, so the channels stop next and the process
    exits 0."""

    stopping_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        with correlated(None):  # the signal interrupted whatever ran: its lines belong to no update
            self._stop(sig)

    def _stop(self, sig: int) -> None:
        if self.should_exit:
            log.warning("stopping now: signal %d while stopping", sig)
            self.force_exit = True
            return
        log.info("stopping: signal %d; finishing what is in flight", sig)
        self.should_exit = True
        self.stopping_since = asyncio.get_running_loop().time()


@contextmanager
def bounded_stop(http: GracefulServer, seconds: int) -> Iterator[None]:
    """Once the HTTP server has stopped: the process exits at once when `seconds` have passed since the stop began,
    or on another signal (immediately if one came already). Work left unfinished is in the database, acknowledged
    updates included: the next start takes it up."""
    loop = asyncio.get_running_loop()
    if http.force_exit:
        exit_now("a second signal")
    timer = loop.call_at((http.stopping_since or loop.time()) + seconds, exit_now, f"{seconds} s passed")
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, exit_now, "a second signal")
    try:
        yield
    finally:
        timer.cancel()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def exit_now(reason: str) -> NoReturn:
    log.warning("stopping now (%s) with work unfinished: the next start takes it up", reason)
    logging.shutdown()
    os._exit(EXIT_UNFINISHED)  # no cleanup may wait any longer


@asynccontextmanager
async def running_channels(
    core: Core, registry: Sequence[Registration[Any]], started: asyncio.Event | None = None
) -> AsyncIterator[list[Channel]]:
    """The configured channels, built and started, with the outbox dispatcher sending through them, the minute's
    sweep and the pulses; on leaving, the loops stop, then the channels in reverse order. `started` is set while
    all run."""
    started = started or asyncio.Event()
    channels = [channel for entry in registry if (channel := entry.built(core)) is not None]
    async with AsyncExitStack() as stack:
        for channel in channels:
            await channel.start()
            stack.push_async_callback(channel.stop)
        senders = {channel.name: channel.send for channel in channels}
        dispatcher = Dispatcher(core.database, senders, counts=core.sends)
        core.loops.start(DISPATCHER_LOOP, dispatcher.step)
        core.loops.start(SWEEP_LOOP, lambda: sweep(core))
        if core.settings.pulses:
            groups = {channel.name: channel for channel in channels if isinstance(channel, GroupMembers)}
            pulses = Pulses(core.database, core.invitations, core.settings.pulses, groups, core.engine.clock)
            core.loops.start(PULSES_LOOP, pulses.step)
        stack.push_async_callback(dispatcher.release)  # once its loop has stopped: what it claimed is sent elsewhere
        loops = (DISPATCHER_LOOP, SWEEP_LOOP, PULSES_LOOP)
        stack.push_async_callback(core.loops.stop, *loops)  # before the channels stop
        if core.settings.webhooks:
            await delivering_webhooks(core, stack)
        stack.callback(started.clear)  # first of all: no longer ready
        started.set()
        yield channels


async def delivering_webhooks(core: Core, stack: AsyncExitStack) -> None:
    """A dispatcher for each webhook, so that a slow receiver never holds up a chat message nor another receiver's
    events; they retry longer than the chat channels' (WEBHOOK_MAX_ATTEMPTS), and stop before their HTTP client
    closes."""
    from handlers.webhooks import WEBHOOK_LOOP, WEBHOOK_MAX_ATTEMPTS, WebhookSender  # httpx: only with webhooks

    sender = WebhookSender(core.settings.webhooks)
    stack.push_async_callback(sender.close)
    for channel, send in sender.senders().items():
        dispatcher = Dispatcher(
            core.database, {channel: send}, counts=core.deliveries, max_attempts=WEBHOOK_MAX_ATTEMPTS
        )
        loop = f"{WEBHOOK_LOOP} ({channel})"
        core.loops.start(loop, dispatcher.step)
        stack.push_async_callback(dispatcher.release)
        stack.push_async_callback(core.loops.stop, loop)
    log.info("delivering events to %d webhooks: %s", len(core.settings.webhooks), ", ".join(core.settings.webhooks))


async def serve_http(core: Core, server: uvicorn.Server, listener: socket.socket, *, with_terminal: bool) -> None:
    """The HTTP server, and the terminal channel beside it if asked: quitting that stops the server."""
    host, port = listener.getsockname()[:2]
    log.info("HTTP server on http://%s:%d (GET /healthz, /readyz, /metrics)", host, port)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve(sockets=[listener]))
        if with_terminal:
            terminal = ConsoleChannel(core.engine, first_survey=core.settings.surveys.default, out=sys.stdout)
            reading = tasks.create_task(terminal.run(stdin_lines()))
            serving.add_done_callback(lambda _: reading.cancel())  # stopped by a signal: stop reading too
            await asyncio.wait([reading])
            server.should_exit = True
        await serving
