"""The bare slack-bolt app of bench/slack_hotpath.py: every button press acknowledged, nothing else.

Run: `python bench/baselines/bare_bolt_app.py PORT API_BASE_URL BOT_TOKEN SIGNING_SECRET` (the bench's fake ones).
As bolt's getting-started guide writes it: an AsyncApp with the bot token and the signing secret, served at
POST /slack/events by bolt's own aiohttp server (`app.start`); its Web API client points at the bench's fake Slack.
bolt still verifies each request's signature, parses it, authorises it (auth.test, once) and routes it
to the listener, as for any app.
"""

from __future__ import annotations

import re
import sys

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build(base_url: str, token: str, signing_secret: str) -> AsyncApp:
    app = AsyncApp(client=AsyncWebClient(token=token, base_url=base_url), signing_secret=signing_secret)

    @app.action(re.compile(".*"))
    async def acknowledge(ack: AsyncAck) -> None:
        await ack()

    return app


if __name__ == "__main__":
    port, base_url, token, signing_secret = sys.argv[1:]
    build(base_url, token, signing_secret).start(port=int(port), host="127.0.0.1")
