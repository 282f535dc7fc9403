"""Button presses: survey answers in a DM, surveys started from App Home; unknown buttons get a notice."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.events import ChoiceAnswer, StartSurvey
from bot.i18n import translate
from bot.prompts import Notice, NoticeKind, Reply
from handlers.slack import blocks
from handlers.slack.common import Services, deliver, event_key, log_api_error, respondent


def register(app: AsyncApp, services: Services) -> None:
    """Order matters: the catch-all listener comes last."""

    @app.action(re.compile(f"^{blocks.ANSWER}_"))
    async def answer_pressed(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Stores the pressed answer, then shows it in place of the buttons and posts what comes next in the thread."""
        parsed = blocks.parse_answer_value(action.get("value", ""))
        if parsed is None:
            await ack()
            services.after_ack(notify_invalid(services, body))
            return
        event = ChoiceAnswer(respondent(body["user"]["id"]), event_key(body), *parsed)
        reply = await services.engine.handle(event)  # stored before Slack hears back: nothing is lost
        await ack()
        first = reply.prompts[0] if reply.prompts else None
        if isinstance(first, Notice) and first.kind == NoticeKind.REFUSAL:
            services.after_ack(notify(services, body, first.text))
            return
        message = body.get("message", {})
        services.after_ack(show_choice_then_deliver(services, body, action, event, reply, message))

    @app.action(re.compile(f"^{blocks.START}_"))
    async def survey_started(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Starts the survey picked on App Home as a conversation in the DM."""
        event = StartSurvey(respondent(body["user"]["id"]), event_key(body), action.get("value", ""))
        reply = await services.engine.handle(event)
        await ack()
        services.after_ack(deliver(services, event, reply, thread_ts=None))

    @app.action(re.compile(".*"))
    async def unknown_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        """A button of an older version of the bot, or forged: a notice, nothing else."""
        await ack()
        services.after_ack(notify_invalid(services, body))


async def show_choice_then_deliver(
    services: Services,
    body: dict[str, Any],
    action: dict[str, Any],
    event: ChoiceAnswer,
    reply: Reply,
    message: dict[str, Any],
) -> None:
    await show_choice(services, body, action)
    await deliver(services, event, reply, thread_ts=message.get("thread_ts") or message.get("ts"))


async def show_choice(services: Services, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Replaces the pressed message's buttons with the answer, so old buttons stop working."""
    message = body.get("message", {})
    question = next((b["text"]["text"] for b in message.get("blocks", []) if b.get("type") == "section"), " ")
    pressed = [
        element["text"]["text"]
        for block in message.get("blocks", [])
        for element in block.get("elements", [])
        if element.get("value") == action.get("value") and "text" in element
    ]
    chosen = pressed[0] if pressed else action.get("value", "")
    try:
        await services.client.chat_update(
            channel=body["container"]["channel_id"],
            ts=body["container"]["message_ts"],
            text=f"{question} {blocks.escaped(chosen)}",  # the question as the bot posted it, in mrkdwn
            blocks=blocks.answered_blocks(question, chosen),
        )
    except SlackApiError as error:
        log_api_error("chat.update", error)


async def notify_invalid(services: Services, body: dict[str, Any]) -> None:
    await notify(services, body, translate("button_invalid", None))


async def notify(services: Services, body: dict[str, Any], text: str) -> None:
    """A short notice only the presser sees (in the DM when the button was on App Home)."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    user = body["user"]["id"]
    try:
        if channel:
            await services.client.chat_postEphemeral(channel=channel, user=user, text=text)
        else:
            await services.client.chat_postMessage(channel=user, text=text)
    except SlackApiError as error:
        log_api_error("chat.postEphemeral" if channel else "chat.postMessage", error)
