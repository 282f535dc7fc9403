"""The HTTP server's health check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import ServerSettings
from handlers.web import create_app
from storage.db import Database


async def health(database: Database) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        return await client.get("/healthz")


@pytest.mark.every_database
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


async def test_every_route_refuses_a_body_over_the_limit_before_reading_it_whole(database: Database) -> None:
    read: list[int] = []

    async def any_route(request: Request) -> Response:
        read.append(len(await request.body()))
        return Response(status_code=204)

    routes = [Route("/any", any_route, methods=["POST"])]
    api = create_app(database, server=ServerSettings(max_body_bytes=1000), routes=routes)

    async def chunks(size: int) -> AsyncIterator[bytes]:  # streamed: no Content-Length
        for _ in range(size // 100):
            yield b"x" * 100

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        assert (await client.post("/any", content=b"x" * 1000)).status_code == 204
        assert (await client.post("/any", content=chunks(1000))).status_code == 204
        assert (await client.post("/any", content=b"x" * 1001)).status_code == 413
        assert (await client.post("/any", content=chunks(2000))).status_code == 413
    assert read == [1000, 1000]


async def test_while_stopping_webhooks_and_readiness_answer_503_and_health_still_answers(database: Database) -> None:
    stopping = False
    received: list[str] = []

    async def webhook(request: Request) -> Response:
        received.append(request.url.path)
        return Response(status_code=200)

    routes = [Route(path, webhook, methods=["POST"]) for path in ("/telegram/webhook", "/slack/events")]
    api = create_app(database, stopping=lambda: stopping, routes=routes)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
        assert (await client.post("/telegram/webhook", content=b"{}")).status_code == 200
        stopping = True
        answers = [
            (await client.post("/telegram/webhook", content=b"{}")).status_code,
            (await client.post("/slack/events", content=b"{}")).status_code,
            (await client.get("/readyz")).status_code,
            (await client.get("/healthz")).status_code,
        ]
    assert answers == [503, 503, 503, 200]
    assert received == ["/telegram/webhook"]  # nothing taken while stopping: the platform delivers it again
