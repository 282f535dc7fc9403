"""The HTTP API's application: versioned routes under /api/v1, its OpenAPI description at /docs."""

from fastapi import Depends, FastAPI

from bot.app import Core
from bot.cli import installed_version
from handlers.api.auth import caller_of
from handlers.api.invitations import add_invitation_routes
from handlers.api.links import add_link_routes
from handlers.api.metrics import add_metrics_route
from handlers.api.reads import add_read_routes


def build_api(core: Core) -> FastAPI:
    """The API on the core; every route asks for an API key."""
    caller = caller_of(core.settings.api.keys)
    api = FastAPI(
        title="feedbackbot",
        version=installed_version(),
        docs_url="/docs",
        openapi_url="/openapi.json",
        dependencies=[Depends(caller)],  # every API route; not the description
    )
    # Routes are added to the app itself, not included from routers: the server's request timer finds their
    # templates among the app's routes.
    add_invitation_routes(api, core.invitations, caller)
    add_link_routes(api, core.links, caller)
    add_read_routes(api, core.database)
    add_metrics_route(api, core)
    return api
