"""The HTTP API's application: versioned routes under /api/v1, its OpenAPI description at /docs."""

from fastapi import APIRouter, Depends, FastAPI

from bot.app import Core
from bot.cli import installed_version
from handlers.api.auth import caller_of
from handlers.api.invitations import invitations_router
from handlers.api.reads import reads_router

PREFIX = "/api/v1"


def build_api(core: Core) -> FastAPI:
    """The API on the core; every route asks for an API key."""
    api = FastAPI(title="feedbackbot", version=installed_version(), docs_url="/docs", openapi_url="/openapi.json")
    caller = caller_of(core.settings.api.keys)
    router = APIRouter(prefix=PREFIX, dependencies=[Depends(caller)])
    router.include_router(invitations_router(core.invitations, caller, PREFIX))
    router.include_router(reads_router(core.database))
    api.include_router(router)
    return api
