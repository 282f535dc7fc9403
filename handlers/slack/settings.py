"""The [slack] settings section (FEEDBACKBOT_SLACK__KEY in the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from bot.config import ChannelSection, StringList


class SlackSettings(ChannelSection):
    moved_here: ClassVar[Mapping[tuple[str, str], str]] = {
        ("cases", "escalation_channel"): "escalation_channel",
        ("cases", "escalation_mention"): "escalation_mention",
    }
    writes_first: ClassVar[bool] = True  # a bot may open a DM with any member of its workspace
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_base_url: str = "https://slack.com/api/"
    mode: Literal["http", "socket"] = "http"
    staff_channel: str | None = None  # a channel id: its members are staff
    staff_user_ids: StringList = Field(default_factory=list)  # more staff, by Slack user id
    feedback_survey: str = "internal-service"  # what /feedback asks: its first choice question lists the services
    min_group_size: int = Field(default=5, ge=1)  # results of smaller groups stay hidden for anonymous surveys
    escalation_channel: str | None = None  # a second channel (id) for escalations; default: the staff channel
    escalation_mention: str | None = None  # e.g. "<!subteam^S0123>" to mention a user group in escalations

    @model_validator(mode="after")
    def mode_needs_its_secret(self) -> SlackSettings:
        if self.bot_token is None:
            return self
        if self.mode == "http" and self.signing_secret is None:
            raise ValueError("http mode needs [slack] signing_secret, so that forged requests are refused")
        if self.mode == "socket" and self.app_token is None:
            raise ValueError("socket mode needs [slack] app_token (xapp-...)")
        return self

    @property
    def configured(self) -> bool:
        return self.bot_token is not None

    @property
    def staff_destination(self) -> str | None:
        return self.staff_channel

    @property
    def escalation_destination(self) -> str | None:
        return self.escalation_channel or self.staff_channel

    @property
    def mention_in_escalations(self) -> str | None:
        return self.escalation_mention

    def surveys_named(self) -> dict[str, str]:
        return {"feedback_survey": self.feedback_survey}
