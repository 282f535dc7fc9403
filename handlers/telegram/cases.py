"""Complaint cases on Telegram: alerts and steps in the staff chat, and the customer's "Is this resolved for you?"."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.cases import (
    CASE_CONTACT,
    CASE_ESCALATION,
    CASE_RESOLUTION,
    CASE_UPDATE,
    STAFF_ALERT,
    CaseError,
    Cases,
    alert_text,
    outcome_text,
)
from bot.i18n import translate
from bot.outbox import Undeliverable
from handlers.telegram import render
from handlers.telegram.common import Context, respondent
from handlers.telegram.delivery import Blocked, Delivery
from handlers.telegram.inbox import CHANNEL

OUTCOME = "o1"  # o1|case|yes


async def send(delivery: Delivery, cases: Cases, kind: str, payload: dict[str, Any]) -> None:
    """The outbox's sender for Telegram."""
    try:
        case, person = await cases.load(int(payload["case"]))
    except CaseError as error:
        raise Undeliverable(str(error)) from error
    try:
        if kind == STAFF_ALERT:
            await delivery.sender.send(int(payload["target"]), alert_text(case, await cases.answers_of(case)))
        elif kind in (CASE_UPDATE, CASE_ESCALATION):
            line = payload["line"] if kind == CASE_ESCALATION else f"Case #{case.id}: {payload['line']}"
            await delivery.sender.send(int(payload["target"]), line)
        elif kind in (CASE_RESOLUTION, CASE_CONTACT):
            platform_id = str(payload["platform_id"])
            if platform_id in delivery.unreachable:
                raise Undeliverable("the customer blocked the bot")
            language = person.language if person else None
            if kind == CASE_CONTACT:
                text = f"{translate('staff_message', language, number=case.id)}\n\n{payload['message']}"
                await delivery.sender.send(int(platform_id), text)
                return
            await delivery.sender.send(
                int(platform_id),
                outcome_text(case, language, payload.get("message", "")),
                outcome_keyboard(case.id or 0, language),
            )
        else:
            raise Undeliverable(f"telegram cannot send {kind!r} messages")
    except Blocked as error:
        raise Undeliverable(f"the chat refuses the bot's messages: {error}") from error


def outcome_keyboard(case_id: int, language: str | None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            translate(word, language), callback_data=f"{OUTCOME}{render.SEPARATOR}{case_id}{render.SEPARATOR}{word}"
        )
        for word in ("yes", "no")
    ]
    return InlineKeyboardMarkup([buttons])


async def outcome_answered(update: Update, context: Context) -> None:
    """Yes closes the customer's case; no reopens it and escalates it again."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, case_id, answer = query.data.split(render.SEPARATOR)
    who = respondent(update)
    services = context.bot_data
    language = await services.engine.language_of(who)
    try:
        case = await services.cases.customer_answer(int(case_id), CHANNEL, who.user_id, answer == "yes")
    except CaseError:
        await services.sender.answer_query(query, translate("button_invalid", language))
        return
    await services.sender.answer_query(query)
    if isinstance(query.message, Message):
        await services.sender.edit(query.message, f"{query.message.text}\n\n✅ {translate(answer, language)}")
    key = "outcome_closed" if answer == "yes" else "outcome_reopened"
    await services.sender.send(int(who.user_id), translate(key, language, number=case.id))
