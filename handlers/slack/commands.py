"""Slash commands: /feedback [service] opens the feedback form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from handlers.slack import blocks
from handlers.slack.common import Services, acknowledge

FEEDBACK_COMMAND = "/feedback"


def register(app: AsyncApp, services: Services) -> None:
    async def open_feedback_form(command: dict[str, Any]) -> None:
        """Opens the form of the feedback survey; `/feedback it-helpdesk` preselects that service."""
        survey = services.engine.catalogue[services.settings.feedback_survey]
        preselected = command.get("text", "").strip().lower() or None
        language = await services.engine.people.language_of(await services.respondent(command["user_id"]))
        view = blocks.feedback_form(survey, language, survey.anonymous, preselected)
        await services.client.views_open(trigger_id=command["trigger_id"], view=view)

    # Slack wants an answer within 3 s: acknowledged at once, the modal follows
    app.command(FEEDBACK_COMMAND)(ack=acknowledge, lazy=[open_feedback_form])
