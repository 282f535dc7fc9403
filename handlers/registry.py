"""Every channel the bot can run, one line each: its name (its settings section, and the channel stored with
people and messages), its settings model and how it is built. The command line adds each section to the settings;
`feedbackbot run` builds and starts the channels whose section is configured."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.app import Core
from bot.channels import Channel
from bot.config import ChannelSection, Settings
from handlers import slack, telegram

S = TypeVar("S", bound=ChannelSection)


@dataclass(frozen=True, slots=True)
class Registration(Generic[S]):
    name: str
    settings: type[S]
    build: Callable[[Core, S], Channel]  # loads the channel's SDK: called only for a configured channel

    def built(self, core: Core) -> Channel | None:
        """The channel on `core`, when its section is configured; None otherwise."""
        section = getattr(core.settings, self.name)
        assert isinstance(section, self.settings), f"the settings have no [{self.name}] section of the registry"
        return self.build(core, section) if section.configured else None


CHANNELS: tuple[Registration[Any], ...] = (
    Registration("telegram", telegram.TelegramSettings, telegram.build),
    Registration("slack", slack.SlackSettings, slack.build),
)


def settings_model(registry: Iterable[Registration[Any]] = CHANNELS) -> type[Settings]:
    """The settings with a section per registered channel."""
    return Settings.with_channels({channel.name: channel.settings for channel in registry})
