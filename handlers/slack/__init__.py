"""The Slack channel: employees rate internal services through /feedback, answer surveys in a DM, see App Home.

This module stays light (the registry imports it to read the [slack] section); slack_bolt and slack_sdk load in
`build`, when Slack is configured."""

from __future__ import annotations

from bot.app import Core
from bot.channels import Channel
from handlers.slack.settings import SlackSettings


def build(core: Core, settings: SlackSettings) -> Channel:
    """The channel, ready to start."""
    from handlers.slack.channel import SlackChannel

    return SlackChannel(core, settings)


__all__ = ["SlackSettings", "build"]
