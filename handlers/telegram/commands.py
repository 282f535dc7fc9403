"""Slash commands in a private chat: /start, /survey, /help, /language, /stop, /forget, /complain."""

from __future__ import annotations

from functools import partial

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.events import Complain, StartSurvey
from bot.i18n import languages, translate
from bot.links import Unusable, looks_like_token
from bot.surveys import Survey
from handlers.telegram import render
from handlers.telegram.common import Context, event_id, respond, respondent


def parse_start_payload(payload: str, surveys: dict[str, Survey], default: str) -> tuple[str, str | None]:
    """'csat' or 'csat-ORDER123' -> (survey, reference); the longest matching survey id wins, in any letter case."""
    if not payload:
        return default, None
    lowered = payload.lower()
    for survey_id in sorted(surveys, key=len, reverse=True):
        if lowered == survey_id.lower():
            return survey_id, None
        if lowered.startswith(survey_id.lower() + "-"):
            return survey_id, payload[len(survey_id) + 1 :]
    return payload, None


async def start(update: Update, context: Context) -> None:
    """Starts the deep link's survey (or the default), tied to its reference, or the survey a link's token stands
    for, with the link's reference and attributes; undoes /stop."""
    services = context.bot_data
    payload = context.args[0] if context.args else ""
    who = respondent(update)
    if who.user_id in services.delivery.unreachable:  # /start after blocking the bot: they are back
        await services.delivery.set_reachable(who, True)
    if looks_like_token(payload):
        await start_by_link(update, context, payload)
        return
    survey_id, reference = parse_start_payload(payload, services.surveys, services.default_survey)
    await respond(update, context, StartSurvey(who, event_id(update), survey_id, reference))


async def start_by_link(update: Update, context: Context, token: str) -> None:
    """Starts the survey the link stands for; a forged, unknown or expired link gets an answer saying so."""
    who = respondent(update)
    link = await context.bot_data.links.find(token)
    if isinstance(link, Unusable):
        language = await context.bot_data.people.language_of(who)
        await reply_text(update, context, translate(link, language))
        return
    await respond(update, context, StartSurvey(who, event_id(update), link.survey_id, link.reference, link_id=link.id))


async def complain(update: Update, context: Context) -> None:
    """Stores the words after /complain as a complaint."""
    assert update.effective_message is not None and update.effective_message.text is not None
    text = update.effective_message.text.partition(" ")[2]
    await respond(update, context, Complain(respondent(update), event_id(update), text))


async def show_help(update: Update, context: Context) -> None:
    """Explains the commands, in the person's language."""
    language = await context.bot_data.people.language_of(respondent(update))
    await reply_text(update, context, translate("help", language))


async def choose_survey(update: Update, context: Context) -> None:
    """Lists the surveys as buttons."""
    language = await context.bot_data.people.language_of(respondent(update))
    rows = [
        [InlineKeyboardButton(survey.text(survey.title, language), callback_data=f"{render.SURVEY}|{survey.id}")]
        for survey in context.bot_data.surveys.values()
    ]
    await reply_text(update, context, translate("choose_survey", language), InlineKeyboardMarkup(rows))


async def choose_language(update: Update, context: Context) -> None:
    """Lists the bot's languages as buttons, each in its own name."""
    language = await context.bot_data.people.language_of(respondent(update))
    rows = [
        [InlineKeyboardButton(translate("language_name", code), callback_data=f"{render.LANGUAGE}|{code}")]
        for code in languages()
    ]
    await reply_text(update, context, translate("choose_language", language), InlineKeyboardMarkup(rows))


async def stop(update: Update, context: Context) -> None:
    """Asks to confirm before opting out of surveys."""
    await confirm(update, context, "stop")


async def forget(update: Update, context: Context) -> None:
    """Asks to confirm before deleting the person's personal data."""
    await confirm(update, context, "forget")


async def confirm(update: Update, context: Context, action: str) -> None:
    language = await context.bot_data.people.language_of(respondent(update))
    buttons = [
        InlineKeyboardButton(translate("confirm_yes", language), callback_data=f"{render.CONFIRM}|{action}|yes"),
        InlineKeyboardButton(translate("confirm_no", language), callback_data=f"{render.CONFIRM}|{action}|no"),
    ]
    await reply_text(update, context, translate(f"confirm_{action}", language), InlineKeyboardMarkup([buttons]))


async def reply_text(update: Update, context: Context, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    """A direct answer that changes no state (help, lists, confirmations), sent once per update."""
    assert update.effective_chat is not None
    send = partial(context.bot_data.sender.send, update.effective_chat.id, text, keyboard)
    await context.bot_data.delivery.reply_once(event_id(update), [send], respondent(update))
