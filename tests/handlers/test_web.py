"""The HTTP server's health check."""

from __future__ import annotations

import httpx

from handlers.web import create_app
from storage.db import Database


async def health(database: Database) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        return await client.get("/healthz")


async def test_health_is_200_when_the_database_answers(database: Database) -> None:
    response = await health(database)
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


async def test_health_is_503_when_the_database_does_not_answer() -> None:
    unreachable = Database("postgresql+asyncpg://bot:secret@127.0.0.1:1/feedback")
    try:
        response = await health(unreachable)
    finally:
        await unreachable.close()
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "database": "unreachable"})
