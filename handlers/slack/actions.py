"""Button presses: survey answers in a DM, surveys started from App Home; unknown buttons get a notice."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.events import ChoiceAnswer, StartSurvey
from bot.i18n import translate
from bot.prompts import Notice, NoticeKind
from handlers.slack import blocks
from handlers.slack.common import (
    Services,
    acknowledge,
    answered,
    deliver,
    event_key,
    remember_answer,
    reply_in_dm,
    respondent,
)


def register(app: AsyncApp, services: Services) -> None:
    """Order matters: the catch-all listener comes last. Each listener stores and acknowledges; its lazy part
    (bolt's lazy listener) posts what follows."""

    async def store_answer(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Stores the pressed answer before Slack hears back: nothing is lost."""
        parsed = blocks.parse_answer_value(action.get("value", ""))
        if parsed is not None:
            event = ChoiceAnswer(respondent(body["user"]["id"]), event_key(body), *parsed)
            remember_answer(context, event, await services.engine.handle(event))
        await ack()

    async def show_answer_then_next(body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext) -> None:
        """Shows the answer in place of the buttons and posts what comes next in the thread; a refused or unreadable
        press gets a notice."""
        stored = answered(context)
        if stored is None:  # nothing stored: an unreadable value, or the listener failed (and was reported)
            if blocks.parse_answer_value(action.get("value", "")) is None:
                await notify_invalid(services, body)
            return
        event, reply = stored
        first = reply.prompts[0] if reply.prompts else None
        if isinstance(first, Notice) and first.kind == NoticeKind.REFUSAL:
            await notify(services, body, first.text)
            return
        message = body.get("message", {})
        try:
            await show_choice(services, body, action)
        finally:  # the next question goes out even when the buttons could not be replaced
            await deliver(services, event, reply, thread_ts=message.get("thread_ts") or message.get("ts"))

    async def start_survey(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Starts the survey picked on App Home as a conversation in the DM; its first question follows lazily."""
        who = await services.respondent(body["user"]["id"])  # in their language: the survey opens in it
        event = StartSurvey(who, event_key(body), action.get("value", ""))
        remember_answer(context, event, await services.engine.handle(event))
        await ack()

    async def refuse_unknown_button(body: dict[str, Any]) -> None:
        """A button of an older version of the bot, or forged: a notice, nothing else."""
        await notify_invalid(services, body)

    app.action(re.compile(f"^{blocks.ANSWER}_"))(ack=store_answer, lazy=[show_answer_then_next])
    app.action(re.compile(f"^{blocks.START}_"))(ack=start_survey, lazy=[reply_in_dm(services)])
    app.action(re.compile(".*"))(ack=acknowledge, lazy=[refuse_unknown_button])


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
    await services.client.chat_update(
        channel=body["container"]["channel_id"],
        ts=body["container"]["message_ts"],
        text=f"{question} {blocks.escaped(chosen)}",  # the question as the bot posted it, in mrkdwn
        blocks=blocks.answered_blocks(question, chosen),
    )


async def notify_invalid(services: Services, body: dict[str, Any]) -> None:
    await notify(services, body, translate("button_invalid", None))


async def notify(services: Services, body: dict[str, Any], text: str) -> None:
    """A short notice only the presser sees (in the DM when the button was on App Home)."""
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    user = body["user"]["id"]
    if channel:
        await services.client.chat_postEphemeral(channel=channel, user=user, text=text)
    else:
        await services.client.chat_postMessage(channel=user, text=text)
