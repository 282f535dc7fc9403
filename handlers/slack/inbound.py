"""What a request to /slack/events must be before bolt sees it: signed by Slack, then a payload of a kind this app
handles, whose fields the listeners read have the types they expect. bolt parses first and verifies after, and
raises on bodies Slack never sends; here nothing is parsed until the signature holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request

REASON_LIMIT = 80  # a reason names a field, never the words in it; a forged field name is cut short


class Malformed(ValueError):
    """A signed request that no Slack listener of this app can take: the reason names the field, not its value."""


class Part(BaseModel):
    """A piece of a payload: the fields named must have these types (no coercion, no null unless said), anything
    else may come along. A field may be missing: the listener that needs it raises, and is answered 400."""

    model_config = ConfigDict(extra="allow", strict=True)


class Envelope(Part):
    event: dict[str, Any] = {}  # bolt's own middleware reads it from every payload


class User(Part):
    id: str


class Action(Part):
    action_id: str
    block_id: str = ""
    value: str = ""
    action_ts: str = ""
    selected_user: str | None = None  # null once the menu is cleared


class Channel(Part):
    id: str


class Container(Part):
    channel_id: str = ""
    message_ts: str = ""


class Message(Part):
    ts: str = ""
    thread_ts: str = ""
    blocks: list[dict[str, Any]] = []


class BlockActions(Envelope):
    type: Literal["block_actions"]
    user: User
    actions: list[Action] = Field(min_length=1)
    trigger_id: str = ""
    channel: Channel | None = None  # none on App Home
    container: Container = Container()
    message: Message = Message()


class Choice(Part):
    value: str


class FieldState(Part):
    value: str | None = None  # null when an optional input is left empty
    selected_option: Choice | None = None
    selected_options: list[Choice] | None = None


class ViewState(Part):
    values: dict[str, dict[str, FieldState]] = {}


class View(Part):
    callback_id: str
    private_metadata: str = ""
    state: ViewState = ViewState()


class ViewSubmission(Envelope):
    type: Literal["view_submission"]
    user: User
    view: View
    trigger_id: str = ""


class Event(Part):
    type: str
    user: str = ""
    text: str = ""
    channel: str = ""
    ts: str = ""
    thread_ts: str = ""
    tab: str = ""


class EventCallback(Part):
    type: Literal["event_callback"]
    event_id: str
    event: Event


class UrlVerification(Envelope):
    type: Literal["url_verification"]
    challenge: str


class SlashCommand(Envelope):
    command: str
    user_id: str
    trigger_id: str
    text: str = ""


class SslCheck(Envelope):
    ssl_check: str


KINDS: Mapping[str, type[Part]] = {
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "event_callback": EventCallback,
    "url_verification": UrlVerification,
}


class Gate:
    """Slack's signature on the raw body, checked with slack_sdk's verifier; without a secret nothing passes."""

    def __init__(self, signing_secret: str | None) -> None:
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        if self.verifier is None:
            return False
        try:
            return self.verifier.is_valid_request(body, headers)
        except ValueError:  # a timestamp that is not a number, a body that is not UTF-8: not Slack's
            return False


def parse(request: Request, body: bytes) -> AsyncBoltRequest:
    """bolt's request for a signed body, once its payload is one the listeners can take; else Malformed."""
    try:
        bolt_request = to_async_bolt_request(request, body)
    except (ValueError, LookupError, TypeError, AttributeError, RecursionError) as error:
        raise Malformed(f"unreadable body ({type(error).__name__})") from error  # bolt's parsing and context
    payload: object = bolt_request.body
    if not isinstance(payload, dict):
        raise Malformed("not an object")
    try:
        kind_of(payload).model_validate(payload)
    except ValidationError as error:
        raise Malformed(first_problem(error)) from error
    return bolt_request


def kind_of(payload: dict[str, Any]) -> type[Part]:
    """As bolt tells them apart: a `command` makes a slash command whatever its `type`."""
    if "command" in payload:
        return SlashCommand
    if "ssl_check" in payload:
        return SslCheck
    kind = payload.get("type")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise Malformed("no kind this app handles")
    return model


def first_problem(error: ValidationError) -> str:
    problem = error.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "payload"
    return f"{where[:REASON_LIMIT]!a}: {problem['type']}"
