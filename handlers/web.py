"""The bot's one HTTP server: health, readiness and metrics here, and the channels' routes (their webhooks)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, Histogram
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.cli import installed_version
from bot.config import ServerSettings
from bot.loops import Loops
from handlers.metrics import Metrics
from storage.db import Database
from storage.migrate import current_revision, is_current

HEALTH_TIMEOUT_SECONDS = 5
log = logging.getLogger(__name__)


def create_app(
    database: Database,
    *,
    loops: Loops | None = None,
    server: ServerSettings | None = None,
    routes: Sequence[BaseRoute] = (),
    metrics: Metrics | None = None,
    channels_started: Callable[[], bool] = lambda: True,
    stopping: Callable[[], bool] = lambda: False,
    api: ASGIApp | None = None,
    dashboard: ASGIApp | None = None,
) -> Starlette:
    """The ASGI application served by `feedbackbot run`, with the channels' `routes`; `channels_started` tells
    /readyz whether the channels run (by default there are none to wait for); while `stopping`, every request but
    /healthz and /metrics is answered 503, so that the platforms retry their updates elsewhere or later. `api`, the
    HTTP API when it is served, answers every path the others do not; the dashboard, when served, those under
    /dashboard."""
    metrics = metrics or Metrics(database)

    async def healthz(_: Request) -> JSONResponse:
        """200 when the database answers and every background loop runs, 503 otherwise."""
        dead = loops.dead() if loops else []
        try:
            await asyncio.wait_for(database.ping(), HEALTH_TIMEOUT_SECONDS)
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("health check: the database does not answer: %s", error)
            return unhealthy("unreachable", dead)
        return unhealthy("ok", dead) if dead else JSONResponse({"status": "ok", "database": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        """200 when the database answers, its schema is current and the channels are started; 503 naming what
        is not ready otherwise."""
        not_ready: list[str] = [] if channels_started() else ["channels"]
        try:
            revision, current = await asyncio.wait_for(schema_state(database), HEALTH_TIMEOUT_SECONDS)
            if not current:
                not_ready.append("schema")
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("readiness check: the database does not answer: %s", error)
            revision, not_ready = None, [*not_ready, "database"]
        body: dict[str, object] = {"version": installed_version(), "schema_revision": revision}
        if not_ready:
            return JSONResponse({"status": "not ready", "not_ready": not_ready, **body}, status_code=503)
        return JSONResponse({"status": "ready", **body})

    async def prometheus_metrics(_: Request) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    own_routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", prometheus_metrics, methods=["GET"]),
    ]
    every_route = [*routes, *own_routes, *dashboard_routes(dashboard), *([Mount("", app=api)] if api else [])]
    # Listed outermost first: every request is timed, and a stopping process refuses before a body is read.
    middleware = [
        Middleware(TimedRequests, histogram=metrics.requests, routes=every_route),
        Middleware(RefusedWhileStopping, stopping=stopping),
        Middleware(BodySizeLimit, max_bytes=(server or ServerSettings()).max_body_bytes),
    ]
    return Starlette(routes=every_route, middleware=middleware)


def dashboard_routes(dashboard: ASGIApp | None) -> list[BaseRoute]:
    """The dashboard under /dashboard/, and /dashboard sending there (a mount serves only the paths below it)."""
    if dashboard is None:
        return []
    return [Route("/dashboard", to_dashboard, methods=["GET"]), Mount("/dashboard", app=dashboard)]


async def to_dashboard(_: Request) -> Response:
    return RedirectResponse("/dashboard/")


async def schema_state(database: Database) -> tuple[str | None, bool]:
    """The schema's revision, and whether it is the newest."""
    return await current_revision(database), await is_current(database)


def unhealthy(database: str, dead_loops: list[str]) -> JSONResponse:
    body: dict[str, object] = {"status": "unavailable", "database": database}
    if dead_loops:
        body["stopped_loops"] = dead_loops
    return JSONResponse(body, status_code=503)


class BodyTooLarge(Exception):
    """Raised into the route that reads a body past the limit; answered 413."""


class BodySizeLimit:
    """Refuses a request body over `max_bytes` with 413 before it is read whole, on every route: by its
    Content-Length, and by counting while the route reads it (a chunked body declares no length)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.declares_too_much(dict(scope["headers"]).get(b"content-length", b"")):
            await self.refuse(send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(send)

    def declares_too_much(self, content_length: bytes) -> bool:
        """Whether the Content-Length is over the limit (a malformed one the server refuses before this)."""
        digits = content_length.lstrip(b"0")  # int() refuses thousands of digits; 19 are past any limit
        return content_length.isdigit() and (len(digits) > 18 or int(digits or b"0") > self.max_bytes)

    async def refuse(self, send: Send) -> None:
        log.warning("refused a request body over %d bytes", self.max_bytes)
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


class RefusedWhileStopping:
    """Answers 503 to every request but the process's health and metrics once the process is stopping: a webhook
    update answered so is delivered again, to another process or to this one restarted."""

    STILL_SERVED = frozenset({"/healthz", "/metrics"})

    def __init__(self, app: ASGIApp, stopping: Callable[[], bool]) -> None:
        self.app, self.stopping = app, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.stopping() or scope["path"] in self.STILL_SERVED:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


class TimedRequests:
    """Times every request into `histogram`, labelled with the template of the route that serves it (never the
    raw path, which a caller chooses), the method and the status answered."""

    UNROUTED = "unrouted"  # a path no route serves
    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def __init__(self, app: ASGIApp, histogram: Histogram, routes: Sequence[BaseRoute]) -> None:
        self.app, self.histogram, self.routes = app, histogram, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app answers: it raised before it did

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        route = template(self.routes, scope)
        method = scope["method"] if scope["method"] in self.METHODS else "other"  # a caller may send any
        started = time.perf_counter()
        try:
            await self.app(scope, receive, noting_status)
        finally:
            self.histogram.labels(route, method, str(status)).observe(time.perf_counter() - started)


def template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route that serves the request, looked up inside a mounted application (the API) too."""
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):  # an application with routes of its own, or one that serves files
            return route.path + (template(route.routes, {**scope, **child_scope}) if route.routes else "")
        return getattr(route, "path", TimedRequests.UNROUTED)
    return TimedRequests.UNROUTED
