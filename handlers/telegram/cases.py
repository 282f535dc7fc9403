"""Complaint cases on Telegram: alerts and steps in the staff chat, and the customer's "Is this resolved for you?"."""

from __future__ import annotations

import logging
from functools import partial

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.cases import CaseError, Cases, EventKey, alert_text, outcome_text
from bot.i18n import translate
from bot.outbound import (
    CaseAlert,
    CaseContact,
    CaseEscalation,
    CaseMessage,
    CaseResolution,
    CaseUpdate,
    Refused,
    RetryLater,
    SendResult,
    Sent,
    StaffNotice,
    Unreachable,
)
from bot.untrusted import one_line
from handlers.telegram import callbacks, render
from handlers.telegram.common import Context, event_id, respondent
from handlers.telegram.delivery import MESSAGE_LIMIT, Blocked, Delivery, DeliveryFailed, Step
from handlers.telegram.inbox import CHANNEL
from storage.models import CaseStatus
from storage.views import CaseView

OUTCOME = "o1"  # o1|case|yes
log = logging.getLogger(__name__)
STAFF = "k1"  # k1|action|case[|root cause index]
ASK_ACTION = "reply to this message with the corrective action taken."
ASK_MESSAGE = "reply to this message with your message to the customer."
ACTION_LABEL = "Corrective action: "


def staff_text(case: CaseView, answers: str | None) -> str:
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


def staff_keyboard(case: CaseView) -> InlineKeyboardMarkup | None:
    """Staff buttons while the case is open: Acknowledge, Assign to me, Resolve, Contact customer."""
    if not case.is_open:
        return None

    def button(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=render.SEPARATOR.join((STAFF, action, str(case.id))))

    first = [button("Acknowledge", "ack")] if case.status != CaseStatus.ACKNOWLEDGED else []
    second = [button("Resolve", "resolve")] + ([button("Contact customer", "contact")] if case.person_id else [])
    return InlineKeyboardMarkup([[*first, button("Assign to me", "mine")], second])


async def send(delivery: Delivery, cases: Cases, message: CaseMessage) -> SendResult:
    """The outbox's sender for Telegram: case alerts, steps and notices for staff, outcomes for customers."""
    customer = message.platform_id if isinstance(message, CaseContact | CaseResolution) else None
    if customer in delivery.unreachable:
        return Unreachable("the customer blocked the bot")
    try:
        return await _send(delivery, cases, message)
    except CaseError as error:
        return Refused(str(error))
    except Blocked as error:
        if customer is not None:
            return Unreachable(f"the customer blocked the bot: {error}")
        return Refused(f"the staff chat refuses the bot's messages: {error}")
    except DeliveryFailed as error:
        return RetryLater(str(error))


async def _send(delivery: Delivery, cases: Cases, message: CaseMessage) -> SendResult:
    if isinstance(message, StaffNotice):  # of no case
        await delivery.sender.send(int(message.target), message.text)
        return Sent()
    case, customer = await cases.load(message.case_id)
    match message:
        case CaseAlert(target=target):
            text = staff_text(case, await cases.answers_of(case))
            sent = await delivery.sender.send(int(target), text, staff_keyboard(case))
            return Sent(None if sent is None else str(sent.message_id))
        case CaseUpdate(target=target, line=line):
            alert = await cases.staff_message(message.case_id, CHANNEL)
            if alert is not None:  # the alert shows the case as it is now
                text = staff_text(case, await cases.answers_of(case))
                await delivery.sender.edit_by_id(int(alert.target), int(alert.reference), text, staff_keyboard(case))
            # A step's line may carry a customer's words: on one line, without invisible characters.
            await delivery.sender.send(int(target), f"Case #{case.id}: {one_line(line)}")
        case CaseEscalation(target=target, line=line):
            await delivery.sender.send(int(target), line)
        case CaseContact(platform_id=platform_id, message=words):
            language = customer.language if customer else None
            text = f"{translate('staff_message', language, number=case.id)}\n\n{words}"
            await delivery.sender.send(int(platform_id), text)
        case CaseResolution(platform_id=platform_id, message=words):
            language = customer.language if customer else None
            await delivery.sender.send(
                int(platform_id), outcome_text(case, language, words), outcome_keyboard(message.case_id, language)
            )
    return Sent()


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
    language = await services.people.language_of(who)
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
