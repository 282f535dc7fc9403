"""POST /api/v1/links and GET /api/v1/links/{token}/qr.png: links to a survey for receipts, e-mails and packaging,
and their QR codes."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from bot.links import (
    ATTRIBUTE_NAME,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_REFERENCE,
    LinkRefused,
    LinkRequest,
    Links,
    Unusable,
    qr_png,
)
from handlers.api import PREFIX
from handlers.api.invitations import unprocessable
from storage.links import LinkView

AttributeName = Annotated[str, Field(pattern=ATTRIBUTE_NAME)]
AttributeValue = Annotated[str, Field(max_length=MAX_ATTRIBUTE_VALUE)]


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survey: str = Field(min_length=1, max_length=64, examples=["csat"])
    reference: str | None = Field(default=None, min_length=1, max_length=MAX_REFERENCE, examples=["ORDER123"])
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    expires_days: int | None = Field(default=None, ge=1, le=3650, description="Opens nothing after this many days")

    def request(self) -> LinkRequest:
        expires_in = timedelta(days=self.expires_days) if self.expires_days else None
        return LinkRequest(self.survey, self.reference, self.attributes, expires_in)


class LinkPublic(BaseModel):
    token: str = Field(description="Telegram's start parameter: https://t.me/BOT?start=TOKEN")
    url: str | None = Field(description="The link a person opens; null until [telegram] username is set")
    qr_png: str | None = Field(description="Where the link's QR code is, as a PNG; null without a url")
    survey: str
    reference: str | None
    attributes: dict[str, str]
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, link: LinkView, url: str | None) -> "LinkPublic":
        return cls(
            token=link.token,
            url=url,
            qr_png=f"{PREFIX}/links/{link.token}/qr.png" if url else None,
            survey=link.survey_id,
            reference=link.reference,
            attributes=link.attributes,
            created_at=link.created_at,
            expires_at=link.expires_at,
        )


GONE = {Unusable.EXPIRED: "the link has expired", Unusable.SURVEY_GONE: "the link's survey is no longer offered"}


class PNGResponse(Response):
    media_type = "image/png"


def add_link_routes(api: FastAPI, links: Links, caller: Callable[..., str]) -> None:
    errors: dict[int | str, dict[str, Any]] = {422: {"description": "A field is wrong, named in `detail`"}}

    @api.post(f"{PREFIX}/links", status_code=status.HTTP_201_CREATED, responses=errors, tags=["links"])
    async def create_link(body: LinkCreate, key_name: Annotated[str, Depends(caller)]) -> LinkPublic:
        """Makes a link to the survey: a short signed token standing for the survey, the reference and the
        attributes (stored here, not in the link), which every answer given through the link carries."""
        try:
            link = await links.create(body.request(), created_by=f"api:{key_name}")
        except LinkRefused as refused:
            raise unprocessable(["body", refused.field], refused.reason) from None
        return LinkPublic.of(link, links.url_of(link.token))

    @api.get(
        f"{PREFIX}/links/{{token}}/qr.png",
        response_class=PNGResponse,
        responses={
            200: {"content": {"image/png": {}}, "description": "The link as a QR code"},
            404: {"description": "No such link, or no address to encode ([telegram] username unset)"},
            410: {"description": "The link has expired, or its survey is no longer offered"},
        },
        tags=["links"],
    )
    async def link_qr_code(token: str) -> Response:
        """The link as a QR code (PNG), for printing."""
        link = await links.find(token)
        if link == Unusable.INVALID:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no link has this token")
        if isinstance(link, Unusable):
            raise HTTPException(status.HTTP_410_GONE, GONE[link])
        url = links.url_of(link.token)
        if url is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no address to encode: set [telegram] username")
        return PNGResponse(qr_png(url))
