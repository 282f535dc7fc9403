"""Slash commands: /feedback [service] opens the feedback form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from handlers.slack import blocks
from handlers.slack.common import Services, log_api_error

FEEDBACK_COMMAND = "/feedback"


def register(app: AsyncApp, services: Services) -> None:
    @app.command(FEEDBACK_COMMAND)
    async def open_feedback_form(ack: AsyncAck, command: dict[str, Any]) -> None:
        """Opens the form of the feedback survey; `/feedback it-helpdesk` preselects that service."""
        await ack()  # Slack wants an answer within 3 s; the modal follows
        survey = services.engine.catalogue[services.settings.feedback_survey]
        preselected = command.get("text", "").strip().lower() or None
        view = blocks.feedback_form(survey, survey.fallback_language, survey.anonymous, preselected)
        services.after_ack(open_view(services, command["trigger_id"], view))


async def open_view(services: Services, trigger_id: str, view: View) -> None:
    try:
        await services.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        log_api_error("views.open", error)
