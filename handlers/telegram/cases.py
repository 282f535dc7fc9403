"""Complaint cases on Telegram: alerts and steps in the staff chat, and the customer's "Is this resolved for you?"."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.cases import (
    CASE_CONTACT,
    CASE_ESCALATION,
    CASE_RESOLUTION,
    CASE_UPDATE,
    STAFF_ALERT,
    CaseError,
    Cases,
    EventKey,
    alert_text,
    outcome_text,
)
from bot.i18n import translate
from bot.outbox import Undeliverable
from bot.staff_notices import STAFF_NOTICE
from bot.untrusted import one_line
from handlers.telegram import callbacks, render
from handlers.telegram.common import Context, event_id, respondent
from handlers.telegram.delivery import MESSAGE_LIMIT, Blocked, Delivery, Step
from handlers.telegram.inbox import CHANNEL
from storage.models import CaseStatus, Complaint

OUTCOME = "o1"  # o1|case|yes
log = logging.getLogger(__name__)
STAFF = "k1"  # k1|action|case[|root cause index]
ASK_ACTION = "reply to this message with the corrective action taken."
ASK_MESSAGE = "reply to this message with your message to the customer."
ACTION_LABEL = "Corrective action: "
OPEN = (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.REOPENED)


def staff_text(case: Complaint, answers: str | None) -> str:
    """The alert in the staff chat, with the case's state, cut to fit one Telegram message."""
    state = f"Status: {case.status}" + (f", assigned to {case.assignee}" if case.assignee else "")
    if case.corrective_action:
        state += f"\nDone: {case.corrective_action} ({case.root_cause})"
    alert = fit(alert_text(case, answers), case.id, MESSAGE_LIMIT - len(state) - 1)
    return fit(f"{alert}\n{state}", case.id)


def fit(text: str, case_id: int | None, limit: int = MESSAGE_LIMIT) -> str:
    """The text, or as much of it as `limit` characters hold, saying where the rest is (for staff)."""
    if len(text) <= limit:
        return text
    cut = f"… (all of it: feedbackbot cases show {case_id})"
    return text[: max(0, limit - len(cut))] + cut


def staff_keyboard(case: Complaint) -> InlineKeyboardMarkup | None:
    """Staff buttons while the case is open: Acknowledge, Assign to me, Resolve, Contact customer."""
    if case.status not in OPEN:
        return None

    def button(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=render.SEPARATOR.join((STAFF, action, str(case.id))))

    first = [button("Acknowledge", "ack")] if case.status != CaseStatus.ACKNOWLEDGED else []
    second = [button("Resolve", "resolve")] + ([button("Contact customer", "contact")] if case.person_id else [])
    return InlineKeyboardMarkup([[*first, button("Assign to me", "mine")], second])


async def send(delivery: Delivery, cases: Cases, kind: str, payload: dict[str, Any]) -> None:
    """The outbox's sender for Telegram."""
    if kind == STAFF_NOTICE:  # of no case
        await send_notice(delivery, payload)
        return
    try:
        case, person = await cases.load(int(payload["case"]))
    except CaseError as error:
        raise Undeliverable(str(error)) from error
    try:
        if kind == STAFF_ALERT:
            text = staff_text(case, await cases.answers_of(case))
            sent = await delivery.sender.send(int(payload["target"]), text, staff_keyboard(case))
            if sent is not None:
                await cases.remember_telegram_message(case.id or 0, sent.message_id)
        elif kind in (CASE_UPDATE, CASE_ESCALATION):
            chat = int(payload["target"])
            if kind == CASE_UPDATE and case.telegram_message_id:  # the alert shows the case as it is now
                text = staff_text(case, await cases.answers_of(case))
                await delivery.sender.edit_by_id(chat, case.telegram_message_id, text, staff_keyboard(case))
            # A step's line may carry a customer's words: on one line, without invisible characters.
            line = payload["line"] if kind == CASE_ESCALATION else f"Case #{case.id}: {one_line(payload['line'])}"
            await delivery.sender.send(chat, line)
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


async def send_notice(delivery: Delivery, payload: dict[str, Any]) -> None:
    """A notice for staff, as plain text."""
    try:
        await delivery.sender.send(int(payload["target"]), str(payload["text"]))
    except Blocked as error:
        raise Undeliverable(f"the staff chat refuses the bot's messages: {error}") from error


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
    number = render.parse_number(case_id)
    if number is None:
        await callbacks.refuse(update, context)
        return
    who = respondent(update)
    services = context.bot_data
    language = await services.engine.language_of(who)
    event = EventKey(CHANNEL, event_id(update))
    try:
        case = await services.cases.customer_answer(number, CHANNEL, who.user_id, answer == "yes", event=event)
    except CaseError:
        await services.sender.answer_query(query, translate("button_invalid", language))
        return
    await services.sender.answer_query(query)
    steps: list[Step] = []
    if isinstance(query.message, Message):
        shown = f"{query.message.text}\n\n✅ {translate(answer, language)}"
        steps.append(partial(services.sender.edit, query.message, shown))
    key = "outcome_closed" if answer == "yes" else "outcome_reopened"
    steps.append(partial(services.sender.send, int(who.user_id), translate(key, language, number=case.id)))
    await services.delivery.reply_once(event.event_id, steps, who)


def staff_actor(update: Update) -> str:
    user = update.effective_user
    assert user is not None
    return f"tg:{user.id}"


def in_staff_chat(update: Update, context: Context) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.id == context.bot_data.staff_chat_id


async def staff_pressed(update: Update, context: Context) -> None:
    """A staff button in the staff chat: acknowledge, take the case, or start resolving or contacting."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = context.bot_data
    if not in_staff_chat(update, context):
        log.warning("telegram: a case button was pressed outside the staff chat; refused")
        await services.sender.answer_query(query, "Only staff can act on complaint cases.")
        return
    parts = query.data.split(render.SEPARATOR)  # k1|action|case[|root cause index]
    number = render.parse_number(parts[2]) if len(parts) > 2 else None
    if number is None:
        await callbacks.refuse(update, context)
        return
    action, rest, actor = parts[1], parts[3:], staff_actor(update)
    event = EventKey(CHANNEL, event_id(update))
    try:
        if action == "ack":
            await services.cases.acknowledge(number, actor, event)
        elif action == "mine":
            await services.cases.assign(number, actor, actor, event)
        elif action == "cause" and rest and isinstance(query.message, Message):
            done = (query.message.text or "").partition(ACTION_LABEL)[2].split("\n")[0]
            cause = services.cases.desk.settings.root_causes[int(rest[0])]
            await services.cases.resolve(
                number, actor, corrective_action=done, root_cause=cause, message=None, event=event
            )
        elif action in ("resolve", "contact"):
            ask = ASK_ACTION if action == "resolve" else ASK_MESSAGE
            await tell_staff(update, context, f"Case #{number}: {ask}", ForceReply(selective=True))
    except (CaseError, IndexError, ValueError) as error:
        await services.sender.answer_query(query, str(error)[:200])
        return
    await services.sender.answer_query(query)


async def staff_replied(update: Update, context: Context) -> None:
    """A staff reply to the bot's question: the corrective action (root cause buttons follow) or a customer message."""
    message = update.effective_message
    assert message is not None and message.text is not None
    asked = (message.reply_to_message.text or "") if message.reply_to_message else ""
    number_text, _, ask = asked.removeprefix("Case #").partition(": ")
    if not number_text.isdigit():
        return
    services, number = context.bot_data, int(number_text)
    if ask == ASK_ACTION:
        causes = services.cases.desk.settings.root_causes
        rows = [
            [
                InlineKeyboardButton(
                    cause, callback_data=render.SEPARATOR.join((STAFF, "cause", str(number), str(index)))
                )
            ]
            for index, cause in enumerate(causes)
        ]
        text = f"Case #{number}. {ACTION_LABEL}{message.text.strip()}\nChoose the root cause:"
        await tell_staff(update, context, text, InlineKeyboardMarkup(rows))
    elif ask == ASK_MESSAGE:
        try:
            await services.cases.contact(number, staff_actor(update), message.text, EventKey(CHANNEL, event_id(update)))
        except CaseError as error:
            await tell_staff(update, context, str(error))


async def tell_staff(
    update: Update, context: Context, text: str, keyboard: InlineKeyboardMarkup | ForceReply | None = None
) -> None:
    """The bot's answer in the staff chat to a staff update, sent once however often the update comes."""
    assert update.effective_chat is not None
    send = partial(context.bot_data.sender.send, update.effective_chat.id, text, keyboard)
    await context.bot_data.delivery.reply_once(event_id(update), [send])
