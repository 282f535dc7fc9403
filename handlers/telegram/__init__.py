"""The Telegram channel: customers take surveys in a private chat with the bot, over polling or a webhook.

This module stays light (the registry imports it to read the [telegram] section); python-telegram-bot loads in
`build`, when Telegram is configured."""

from __future__ import annotations

from bot.app import Core
from bot.channels import Channel
from handlers.telegram.settings import TelegramSettings


def build(core: Core, settings: TelegramSettings) -> Channel:
    """The channel, ready to start."""
    from handlers.telegram.channel import TelegramChannel

    return TelegramChannel(core, settings)


__all__ = ["TelegramSettings", "build"]
