"""HTTP Basic for the dashboard: a user of `[dashboard] users` and their password, or 401 with the challenge that makes
a browser ask for them."""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Mapping
from hmac import compare_digest

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

CHALLENGE = {"WWW-Authenticate": 'Basic realm="feedbackbot dashboard", charset="UTF-8"'}


def credentials_of(authorization: str | None) -> tuple[str, str] | None:
    """The user name and password of a Basic `Authorization` header; None when there is none or it is malformed."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


def user_of(users: Mapping[str, SecretStr], authorization: str | None) -> str | None:
    """The user these credentials are, if any. Every user is compared, in constant time, whichever matches: the
    answer's timing tells nothing of a name or a password."""
    given = credentials_of(authorization)
    if given is None:
        return None
    name, password = given[0].encode(), given[1].encode()
    found = None
    for user, secret in users.items():
        same_name = compare_digest(name, user.encode())
        if compare_digest(password, secret.get_secret_value().encode()) and same_name:
            found = user
    return found


class BasicAuth:
    """Lets a request through only with the credentials of a configured user; answers any other 401."""

    def __init__(self, app: ASGIApp, users: Mapping[str, SecretStr]) -> None:
        self.app, self.users = app, users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or user_of(self.users, Headers(scope=scope).get("authorization")):
            await self.app(scope, receive, send)
            return
        refused = PlainTextResponse("The dashboard needs a user name and password.", 401, headers=CHALLENGE)
        await refused(scope, receive, send)
