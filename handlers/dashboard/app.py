"""The dashboard's application, mounted at /dashboard by `feedbackbot run`: its pages, its static files (plotly.js
among them, so the page needs no network), the login and the security headers."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import plotly
import plotly.offline
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.app import Core
from bot.untrusted import visible
from handlers.dashboard.auth import BasicAuth
from handlers.dashboard.headers import SecurityHeaders
from handlers.dashboard.pages import Pages

STATIC = Path(__file__).parent / "static"
PLOTLY_ETAG = f'"plotly-{plotly.__version__}"'  # the plotly.js bundled with this plotly package


def build_dashboard(core: Core) -> Starlette:
    """The dashboard on the core, every route behind the login of `[dashboard] users`."""
    pages = Pages(core, templates())
    routes = [
        Route("/", pages.overview, methods=["GET"], name="overview"),
        Route("/cases", pages.open_cases, methods=["GET"], name="open_cases"),
        Route("/cases/{number:int}", pages.case, methods=["GET"], name="case"),
        Route("/static/plotly.min.js", plotly_js, methods=["GET"], name="plotly"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    # Outermost first: the headers go on every answer, the 401 included.
    middleware = [Middleware(SecurityHeaders), Middleware(BasicAuth, users=core.settings.dashboard.users)]
    return Starlette(routes=routes, middleware=middleware)


def templates() -> Jinja2Templates:
    """The pages' templates, every value escaped for HTML unless marked safe (none is)."""
    environment = Environment(
        loader=PackageLoader("handlers.dashboard"), autoescape=True, undefined=StrictUndefined, trim_blocks=True
    )
    environment.filters["untrusted"] = visible  # customer and staff words: hidden and bidirectional characters out
    environment.filters["utc"] = lambda moment: "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"
    environment.filters["day"] = lambda moment: "" if moment is None else f"{moment:%Y-%m-%d}"
    return Jinja2Templates(env=environment)


async def plotly_js(request: Request) -> Response:
    """plotly.js from the plotly package (about 5 MB): sent again only when the package changed."""
    if request.headers.get("if-none-match") == PLOTLY_ETAG:
        return Response(status_code=304, headers={"ETag": PLOTLY_ETAG})
    return Response(plotly_source(), media_type="text/javascript", headers={"ETag": PLOTLY_ETAG})


@cache
def plotly_source() -> bytes:
    source: str = plotly.offline.get_plotlyjs()
    return source.encode()
