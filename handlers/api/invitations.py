"""POST /api/v1/invitations and GET /api/v1/invitations/{id}: invite a person to a survey, and see what became of it."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from bot.invitations import (
    IdempotencyKeyReused,
    InvitationRefused,
    InvitationRequest,
    Invitations,
    ToPerson,
    ToPlatformUser,
)
from handlers.api import PREFIX
from storage.invitations import InvitationView

# Letters, digits, - and _: a name needs no quoting wherever it goes (the databases' JSON paths, query strings).
ATTRIBUTE_NAME = r"^[A-Za-z0-9_-]{1,64}$"
AttributeName = Annotated[str, Field(pattern=ATTRIBUTE_NAME)]
AttributeValue = Annotated[str, Field(max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlatformRecipient(Strict):
    """Someone on a channel, by the platform's id (a Telegram user id, a Slack member id)."""

    channel: str = Field(min_length=1, max_length=32, examples=["telegram"])
    platform_id: str = Field(min_length=1, max_length=128, examples=["714862471"])


class PersonRecipient(Strict):
    """A person the bot knows, by its id."""

    person_id: int = Field(gt=0)


class InvitationCreate(Strict):
    survey: str = Field(min_length=1, max_length=64, examples=["csat"])
    recipient: PlatformRecipient | PersonRecipient
    reference: str | None = Field(default=None, min_length=1, max_length=128, examples=["ORDER123"])
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=20)

    def request(self) -> InvitationRequest:
        recipient = self.recipient
        to = (
            ToPerson(recipient.person_id)
            if isinstance(recipient, PersonRecipient)
            else ToPlatformUser(recipient.channel, recipient.platform_id)
        )
        return InvitationRequest(self.survey, to, self.reference, self.attributes)


class InvitationPublic(BaseModel):
    id: int
    survey: str
    channel: str | None
    person_id: int | None
    reference: str | None
    attributes: dict[str, str]
    state: str = Field(description="invited, skipped, sent, started, completed, partial or failed")
    reason: str | None = Field(description="why it was skipped or failed")
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, view: InvitationView) -> "InvitationPublic":
        return cls(
            id=view.id,
            survey=view.survey_id,
            channel=view.channel,
            person_id=view.person_id,
            reference=view.reference,
            attributes=view.attributes,
            state=view.state,
            reason=view.reason,
            created_at=view.created_at,
            sent_at=view.sent_at,
        )


def unprocessable(location: list[str], reason: str) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors, naming the field."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": location, "msg": reason, "type": "value_error"}]
    )


def add_invitation_routes(api: FastAPI, invitations: Invitations, caller: Callable[..., str]) -> None:
    errors: dict[int | str, dict[str, Any]] = {422: {"description": "A field is wrong, named in `detail`"}}

    @api.post(f"{PREFIX}/invitations", status_code=status.HTTP_201_CREATED, responses=errors, tags=["invitations"])
    async def create_invitation(
        body: InvitationCreate,
        response: Response,
        key_name: Annotated[str, Depends(caller)],
        idempotency_key: Annotated[str | None, Header(min_length=1, max_length=128)] = None,
    ) -> InvitationPublic:
        """Invites the recipient to the survey: the message opens it at its first question, tied to the reference.
        A person who opted out or blocked the bot gets no message: the invitation is recorded `skipped`, with the
        reason. The same `Idempotency-Key` with the same body answers the first call's invitation again."""
        try:
            invited = await invitations.invite(body.request(), api_key=key_name, idempotency_key=idempotency_key)
        except InvitationRefused as refused:
            raise unprocessable(["body", *refused.field], refused.reason) from None
        except IdempotencyKeyReused:
            reason = "this key was used for another request; use a new key for a new invitation"
            raise unprocessable(["header", "Idempotency-Key"], reason) from None
        response.headers["Location"] = f"{PREFIX}/invitations/{invited.invitation.id}"
        if invited.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return InvitationPublic.of(invited.invitation)

    @api.get(
        f"{PREFIX}/invitations/{{invitation_id}}",
        responses={404: {"description": "No such invitation"}},
        tags=["invitations"],
    )
    async def get_invitation(invitation_id: int) -> InvitationPublic:
        """The invitation and its state: invited, skipped, sent, started (a question answered), completed, partial
        (closed unfinished: expired, replaced or stopped), failed."""
        view = await invitations.get(invitation_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no invitation has this id")
        return InvitationPublic.of(view)
