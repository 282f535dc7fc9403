"""The API asks every caller for a key of [api.keys], compared in constant time, and knows the caller by its name."""

from __future__ import annotations

import hmac

import httpx
import pytest

from handlers.api import auth
from tests.handlers.api.conftest import CRM, KEYS, SHOP

ROUTE = "/api/v1/invitations/1"  # none yet: 404 once the key is right


async def test_a_call_without_a_key_gets_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    for response in (await client.get(ROUTE), await client.post("/api/v1/invitations", json={})):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="feedbackbot"'


@pytest.mark.parametrize("header", ["Bearer wrong-secret", f"Basic {KEYS['crm']}", f"Bearer {KEYS['crm']}x", "Bearer"])
async def test_a_wrong_key_gets_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get(ROUTE, headers={"Authorization": header})
    assert (response.status_code, response.headers.get("WWW-Authenticate")) == (401, 'Bearer realm="feedbackbot"')


async def test_each_right_key_is_let_in(client: httpx.AsyncClient) -> None:
    assert (await client.get(ROUTE, headers=CRM)).status_code == 404
    assert (await client.get(ROUTE, headers=SHOP)).status_code == 404


async def test_every_key_is_compared_in_constant_time_even_after_a_match(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[bytes] = []

    def recording(given: bytes, expected: bytes) -> bool:
        compared.append(expected)
        return hmac.compare_digest(given, expected)

    monkeypatch.setattr(auth, "compare_digest", recording)
    assert (await client.get(ROUTE, headers=CRM)).status_code == 404
    assert sorted(compared) == sorted(secret.encode() for secret in KEYS.values())


async def test_the_openapi_description_is_served_at_docs_and_lists_the_v1_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    description = (await client.get("/openapi.json")).json()
    assert all(path.startswith("/api/v1/") for path in description["paths"])
    assert "HTTPBearer" in description["components"]["securitySchemes"]


async def test_the_bot_s_own_routes_still_answer_beside_the_api(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/nothing-here")).status_code == 404
