"""Delivers outbound webhooks over HTTP: the outbox dispatcher's sender for the `webhook:NAME` channels.

2xx is delivered; 408, 429 and 5xx, a timeout or a lost connection are tried again with the dispatcher's backoff;
any other answer is a refusal, not tried again. A reason names the status or the error's type only: never the URL
(which may hold a token) nor the body (which may hold a person's words).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from bot.cli import installed_version
from bot.config import WebhookSettings
from bot.outbound import OutboundMessage, Refused, RetryLater, SendResult, Sent, WebhookEvent
from bot.outbox import Sender
from bot.webhooks import EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, body_of, channel_of, signature
from storage.types import utcnow

RETRIED_STATUSES = frozenset({408, 429})
# The dispatcher doubles its wait from 2 s: the last of 15 attempts comes about 9 hours after the first.
WEBHOOK_MAX_ATTEMPTS = 15
WEBHOOK_LOOP = "webhook dispatcher"


class WebhookSender:
    """POSTs each webhook event, signed, to its webhook's URL through one HTTP client; `close` it on stopping."""

    def __init__(
        self,
        webhooks: Mapping[str, WebhookSettings],
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.webhooks = webhooks
        user_agent = f"feedbackbot/{installed_version()}"
        self.client = client or httpx.AsyncClient(headers={"User-Agent": user_agent}, follow_redirects=False)
        self.clock = clock

    def senders(self) -> dict[str, Sender]:
        """The dispatcher's sender for each webhook's outbox channel."""
        return {channel_of(name): self.send for name in self.webhooks}

    async def send(self, message: OutboundMessage) -> SendResult:
        if not isinstance(message, WebhookEvent):
            return Refused(f"a {message.kind} message is not a webhook event")
        webhook = self.webhooks.get(message.webhook)
        if webhook is None:
            return Refused(f"no webhook {message.webhook!r} is configured")
        body = body_of(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(webhook.secret.get_secret_value(), int(self.clock().timestamp()), body),
            EVENT_ID_HEADER: message.event_id,
            EVENT_HEADER: message.type.value,
        }
        try:
            response = await self.client.post(
                webhook.url, content=body, headers=headers, timeout=webhook.timeout_seconds
            )
        except httpx.HTTPError as error:  # a timeout, a refused or lost connection
            return RetryLater(f"{message.webhook}: {type(error).__name__}")
        return result_of(message.webhook, response)

    async def close(self) -> None:
        await self.client.aclose()


def result_of(webhook: str, response: httpx.Response) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return Sent()
    reason = f"{webhook}: HTTP {status}"
    if status in RETRIED_STATUSES or status >= 500:
        return RetryLater(reason, after=seconds_asked(response))
    return Refused(reason)


def seconds_asked(response: httpx.Response) -> float | None:
    """The wait a Retry-After header asks for in seconds, if it gives one; None: the dispatcher's backoff."""
    asked = response.headers.get("Retry-After", "")
    return float(asked) if asked.isdigit() else None
