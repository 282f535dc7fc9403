"""Links to a survey, for receipts, e-mails and packaging: a short signed token that stands for the survey, the
reference and the attributes stored in the database, so the link carries no order number nor anything to alter.
Telegram opens the bot with the token as its start parameter (at most 64 characters of A-Z a-z 0-9 _ -)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.surveys import SurveyCatalogue
from storage import links as stored
from storage.db import Database
from storage.links import LinkView
from storage.person_record import record_request

log = logging.getLogger(__name__)
AUDIT_ACTION = "link.create"
TOKEN_PREFIX = "lk_"  # tells a token from a survey name (`/start csat-ORDER123`)
ID_BYTES, SIGNATURE_BYTES = 12, 12  # 16 characters each in base64url: 35 with the prefix
SIGNATURE_LENGTH = SIGNATURE_BYTES * 4 // 3
TOKEN = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{{ID_BYTES * 4 // 3 + SIGNATURE_LENGTH}}}")
# Letters, digits, - and _: a name needs no quoting wherever it goes (the databases' JSON paths, query strings).
ATTRIBUTE_NAME = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE, MAX_REFERENCE = 20, 256, 128


class LinkRefused(Exception):
    """A link the bot cannot make; `field` names what is wrong, as the request spells it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class Unusable(StrEnum):
    """Why a token opens no survey, as the key of the answer the person gets (bot/locales)."""

    INVALID = "link_invalid"  # forged, altered, mistyped or unknown
    EXPIRED = "link_expired"
    SURVEY_GONE = "link_survey_gone"  # the survey was removed since the link was made


@dataclass(frozen=True, slots=True)
class LinkRequest:
    survey_id: str
    reference: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    expires_in: timedelta | None = None


class LinkTokens:
    """Makes and checks tokens: a random id and a truncated HMAC of it, under a key derived from the privacy hash
    key. A forged or altered token fails the check before any lookup."""

    def __init__(self, hash_key: bytes) -> None:
        self._key = hmac.new(hash_key, b"feedbackbot survey link", hashlib.sha256).digest()

    def new(self) -> str:
        token_id = _text(secrets.token_bytes(ID_BYTES))
        return f"{TOKEN_PREFIX}{token_id}{self._signature(token_id)}"

    def is_genuine(self, token: str) -> bool:
        if not TOKEN.fullmatch(token):
            return False
        token_id, signature = token[len(TOKEN_PREFIX) : -SIGNATURE_LENGTH], token[-SIGNATURE_LENGTH:]
        return hmac.compare_digest(signature, self._signature(token_id))

    def _signature(self, token_id: str) -> str:
        return _text(hmac.new(self._key, token_id.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES])


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def looks_like_token(payload: str) -> bool:
    """Whether a start parameter is meant as a link's token (genuine or not), rather than a survey's name."""
    return payload.startswith(TOKEN_PREFIX)


class Links:
    """Makes links (audited with who made them) and finds what a token stands for. `url_of` turns a token into the
    link a person opens, or None when no channel is set up to make one."""

    def __init__(
        self,
        database: Database,
        catalogue: SurveyCatalogue,
        hash_key: bytes,
        url_of: Callable[[str], str | None],
        clock: Callable[[], datetime],
    ) -> None:
        self.database, self.catalogue, self.url_of, self.clock = database, catalogue, url_of, clock
        self.tokens = LinkTokens(hash_key)

    async def create(self, request: LinkRequest, *, created_by: str) -> LinkView:
        """Stores the link with an audit line naming who made it; raises LinkRefused for an unknown survey or a bad
        field."""
        survey = self.catalogue.find(request.survey_id)
        if survey is None:
            known = self.catalogue.available
            raise LinkRefused("survey", f"no survey {request.survey_id!r}; the surveys are {known}")
        check_fields(request)
        if survey.anonymous and request.reference:
            # An order or ticket number would tie every answer given through the link to whoever it belongs to.
            raise LinkRefused("reference", f"{survey.id} is anonymous: its links carry no reference")
        now = self.clock()
        async with self.database.transaction() as session:
            link = await stored.add_link(
                session,
                token=self.tokens.new(),
                survey_id=survey.id,
                reference=request.reference,
                attributes=request.attributes,
                created_by=created_by,
                expires_at=now + request.expires_in if request.expires_in else None,
                now=now,
            )
            record_request(session, actor=created_by, action=AUDIT_ACTION, subject=f"link {link.id}", counts={})
        log.info("link %d to %s made by %s", link.id, link.survey_id, created_by)
        return link

    async def find(self, token: str) -> LinkView | Unusable:
        """What a token stands for, or why it opens nothing; a token that is not genuine is refused unlooked-up."""
        if not self.tokens.is_genuine(token):
            return Unusable.INVALID
        async with self.database.snapshot() as session:
            link = await stored.get_link(session, token=token)
        if link is None:
            return Unusable.INVALID
        if link.expires_at is not None and link.expires_at <= self.clock():
            return Unusable.EXPIRED
        if self.catalogue.get(link.survey_id) is None:
            return Unusable.SURVEY_GONE
        return link


def check_fields(request: LinkRequest) -> None:
    """The limits the HTTP API's model enforces too, for the command line."""
    if request.reference is not None and not 1 <= len(request.reference) <= MAX_REFERENCE:
        raise LinkRefused("reference", f"between 1 and {MAX_REFERENCE} characters")
    if len(request.attributes) > MAX_ATTRIBUTES:
        raise LinkRefused("attributes", f"at most {MAX_ATTRIBUTES}")
    for name, value in request.attributes.items():
        if not re.fullmatch(ATTRIBUTE_NAME, name):
            raise LinkRefused("attributes", f"{name!r}: a name is 1 to 64 letters, digits, - or _")
        if len(value) > MAX_ATTRIBUTE_VALUE:
            raise LinkRefused("attributes", f"{name}: a value is at most {MAX_ATTRIBUTE_VALUE} characters")


def qr_png(url: str) -> bytes:
    """The link as a QR code in a PNG, with the quiet zone scanners need around it."""
    import segno  # only the commands and routes that draw one pay for it

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    return out.getvalue()
