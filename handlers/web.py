"""The bot's one HTTP server: health check here; the channels mount their endpoints on the same app."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from storage.db import Database

HEALTH_TIMEOUT_SECONDS = 5
log = logging.getLogger(__name__)


def create_app(database: Database) -> FastAPI:
    """The ASGI application served by `feedbackbot run`."""
    app = FastAPI(title="feedbackbot", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 when the database answers, 503 otherwise."""
        try:
            await asyncio.wait_for(database.ping(), HEALTH_TIMEOUT_SECONDS)
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("health check: the database does not answer: %s", error)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app
