"""Modal submissions: the /feedback form becomes a completed survey."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.events import SubmitSurvey
from bot.prompts import Notice, NoticeKind
from handlers.slack import blocks
from handlers.slack.common import Services, event_key, remember_answer, reply_in_dm


def form_values(state: dict[str, Any]) -> dict[str, str]:
    """The form's answers by question id: a menu's or radio's option value, or the typed text."""
    values = {}
    for block_id, fields in state.get("values", {}).items():
        field = fields.get(blocks.FIELD, {})
        selected = field.get("selected_option") or {}
        values[block_id] = selected.get("value") or field.get("value") or ""
    return values


def chose_anonymous(state: dict[str, Any]) -> bool:
    field = state.get("values", {}).get(blocks.ANONYMOUS_BLOCK, {}).get(blocks.FIELD, {})
    return any(option.get("value") == blocks.ANONYMOUS_OPTION for option in field.get("selected_options") or [])


def register(app: AsyncApp, services: Services) -> None:
    async def store_form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
        """Stores the form as a completed survey, whose thanks follow in the DM; a bad field keeps the form open with
        the problem shown."""
        state = view.get("state", {})
        event = SubmitSurvey(
            await services.respondent(body["user"]["id"]),
            event_key(body),
            view.get("private_metadata") or services.settings.feedback_survey,
            form_values(state),
            anonymous=chose_anonymous(state),
        )
        reply = await services.engine.handle(event)  # stored before Slack hears back: nothing is lost
        hint = next((p for p in reply.prompts if isinstance(p, Notice) and p.kind == NoticeKind.HINT), None)
        if hint is not None and hint.question_id:
            await ack(response_action="errors", errors={hint.question_id: hint.text[:150]})
            return
        remember_answer(context, event, reply)
        await ack()

    app.view(blocks.FEEDBACK_VIEW)(ack=store_form, lazy=[reply_in_dm(services)])
