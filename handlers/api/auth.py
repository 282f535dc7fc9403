"""Bearer API keys: each caller's key has a name, which the audit records for the writes it makes."""

from collections.abc import Callable, Mapping
from hmac import compare_digest
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="feedbackbot"'}


def key_name(keys: Mapping[str, SecretStr], given: str) -> str | None:
    """The name of the key `given` is, if any. Every key is compared, in constant time, whichever matches: the
    answer's timing tells nothing of a key."""
    found = None
    for name, secret in keys.items():
        if compare_digest(given.encode(), secret.get_secret_value().encode()):
            found = name
    return found


def caller_of(keys: Mapping[str, SecretStr]) -> Callable[..., str]:
    """A dependency giving the name of the caller's key; 401 with a Bearer challenge when it is missing or wrong."""
    bearer = HTTPBearer(auto_error=False, description="An API key of [api.keys]")

    def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        name = key_name(keys, credentials.credentials) if credentials else None
        if name is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid API key is required: Authorization: Bearer KEY", CHALLENGE
            )
        return name

    return caller
