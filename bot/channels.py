"""What the core needs of a channel (Telegram, Slack, the terminal, any other): the `Channel` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from starlette.routing import BaseRoute

from bot.outbound import OutboundMessage, SendResult


class Capability(StrEnum):
    BUTTONS = "buttons"  # answers by pressing a button
    EDITS = "edits"  # a sent message can be changed (a case alert shows the case as it is now)
    THREADS = "threads"  # replies can hang under a message
    FILES = "files"  # images and files can be sent


class Channel(Protocol):
    """A running channel: built by the composition root from its settings section, then started."""

    @property
    def name(self) -> str:
        """The channel's name as stored with people and messages: "telegram", "slack"."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    def routes(self) -> Sequence[BaseRoute]:
        """The HTTP routes the channel serves on the bot's one server (a webhook), if any."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stops taking updates and lets the work already acknowledged finish."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Delivers one outbound message; never raises for a platform's answer, says it in the result."""
        ...


@runtime_checkable
class GroupMembers(Protocol):
    """A channel that can list the members of a group it knows (Slack: a channel's members, a user group), so that
    a pulse can invite each of them."""

    async def group_members(self, group: str) -> Sequence[str]:
        """The platform ids of the people in `group`, the bot itself left out; raises when the platform refuses."""
        ...
