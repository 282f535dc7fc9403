"""Messages: typed answers, edits of them, non-text messages, group chats, and the bot being blocked."""

from __future__ import annotations

import logging
from functools import partial

from telegram import ChatMember, Update

from bot.events import EditText, NotText, TextAnswer
from bot.i18n import translate
from handlers.telegram.common import Context, event_id, respond, respondent
from handlers.telegram.delivery import Blocked

log = logging.getLogger(__name__)


def message_ref(update: Update) -> str:
    message = update.effective_message
    assert message is not None
    return f"{message.chat_id}:{message.message_id}"


async def text_answer(update: Update, context: Context) -> None:
    """Answers the open survey's current question with the typed text."""
    assert update.message is not None and update.message.text is not None
    event = TextAnswer(respondent(update), event_id(update), update.message.text, message_ref(update))
    await respond(update, context, event)


async def edited_answer(update: Update, context: Context) -> None:
    """Updates the answer the edited message gave."""
    assert update.edited_message is not None and update.edited_message.text is not None
    event = EditText(respondent(update), event_id(update), message_ref(update), update.edited_message.text)
    await respond(update, context, event)


async def not_text(update: Update, context: Context) -> None:
    """A sticker, photo, voice note, location or contact: a one-line hint."""
    await respond(update, context, NotText(respondent(update), event_id(update)))


async def in_group(update: Update, context: Context) -> None:
    """Surveys run in private chats only: a command in a group gets the link to one."""
    assert update.effective_chat is not None and update.effective_user is not None
    language = update.effective_user.language_code
    text = translate("private_only", language, bot=context.bot.username)
    send = partial(context.bot_data.sender.send, update.effective_chat.id, text)
    try:
        await context.bot_data.delivery.reply_once(event_id(update), [send])
    except Blocked:
        log.info("group %s does not let the bot write", update.effective_chat.id)


async def membership_changed(update: Update, context: Context) -> None:
    """Blocking the bot makes the person unreachable; unblocking it makes them reachable again."""
    change = update.my_chat_member
    assert change is not None
    if change.chat.type != "private":
        return
    status = change.new_chat_member.status
    reachable = status not in (ChatMember.BANNED, ChatMember.LEFT)
    await context.bot_data.delivery.set_reachable(respondent(update), reachable)
