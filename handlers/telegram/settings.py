"""The [telegram] settings section (FEEDBACKBOT_TELEGRAM__KEY in the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bot.config import ChannelSection


class TelegramSettings(ChannelSection):
    token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    staff_chat_id: int | None = None
    # The bot's username (without @), for the links `feedbackbot link` and the API make: https://t.me/USERNAME?start=
    username: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
    # Telegram's overall limit is about 30 messages/s; raise it only with paid broadcasts or against a test server.
    max_messages_per_second: float = Field(default=30, gt=0)
    request_timeout: float = Field(default=10, gt=0)  # seconds for one Bot API call before it is retried
    per_chat_interval: float = Field(default=1.0, gt=0)  # seconds between messages to one chat, after a short burst

    @model_validator(mode="after")
    def webhook_needs_a_secret(self) -> TelegramSettings:
        if self.mode == "webhook" and self.token is not None and self.webhook_secret is None:
            raise ValueError("webhook mode needs [telegram] webhook_secret, so that forged updates are refused")
        return self

    @property
    def configured(self) -> bool:
        return self.token is not None

    def start_link(self, token: str) -> str | None:
        return None if self.username is None else f"https://t.me/{self.username}?start={token}"

    @property
    def staff_destination(self) -> str | None:
        return None if self.staff_chat_id is None else str(self.staff_chat_id)
