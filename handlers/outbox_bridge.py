"""Until the outbox dispatcher sends typed messages: its `(kind, payload)` senders to and from `Channel.send`.

Temporary: the outbound path of issue 11 replaces the dispatcher's senders and the channels' case senders with
`OutboundMessage` and `SendResult`; this module then goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter

from bot.outbound import OutboundMessage, Refused, RetryLater, SendResult, Sent, Unreachable
from bot.outbox import Sender, Undeliverable

_MESSAGE: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)
Send = Callable[[OutboundMessage], Awaitable[SendResult]]


class NotSentYet(Exception):
    """A send to retry later: the dispatcher retries any exception but Undeliverable."""


def message_of(kind: str, payload: dict[str, Any]) -> OutboundMessage:
    """A stored `(kind, payload)` as a typed message (`case` is `case_id` there)."""
    fields = {("case_id" if key == "case" else key): value for key, value in payload.items()}
    return _MESSAGE.validate_python({"kind": kind, **fields})


def legacy_of(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    """A typed message as the `(kind, payload)` the channels' case senders take."""
    fields = message.model_dump(mode="json", exclude={"kind"})
    return message.kind.value, {("case" if key == "case_id" else key): value for key, value in fields.items()}


def sender(send: Send) -> Sender:
    """A channel's `send`, as the dispatcher calls it."""

    async def send_stored(kind: str, payload: dict[str, Any]) -> None:
        match await send(message_of(kind, payload)):
            case Refused(reason) | Unreachable(reason):
                raise Undeliverable(reason)
            case RetryLater(reason):
                raise NotSentYet(reason)
            case Sent():
                return

    return send_stored


async def result_of(sending: Awaitable[None]) -> SendResult:
    """What a `(kind, payload)` case sender's send came to; its other errors still reach the dispatcher, which
    retries them as before."""
    try:
        await sending
    except Undeliverable as error:
        return Refused(str(error))
    return Sent()
