"""Button presses: survey answers, survey and language choices, confirmations; anything else is refused."""

from __future__ import annotations

import logging

from telegram import Message, Update

from bot.events import ChoiceAnswer, Forget, OptOut, SetLanguage, StartSurvey
from bot.i18n import languages, translate
from handlers.telegram import render
from handlers.telegram.common import Context, event_id, respond, respondent

log = logging.getLogger(__name__)


def pressed_data(update: Update) -> list[str]:
    assert update.callback_query is not None and update.callback_query.data is not None
    return update.callback_query.data.split(render.SEPARATOR)


async def answer(update: Update, context: Context) -> None:
    """Stores the pressed answer; the engine refuses data that is forged, stale or someone else's."""
    query = update.callback_query
    assert query is not None and query.data is not None
    data = render.parse_answer_data(query.data)
    if data is None:
        await refuse(update, context)
        return
    event = ChoiceAnswer(respondent(update), event_id(update), data.conversation_id, data.question_id, data.value)
    await respond(update, context, event, pressed=query)


async def survey_chosen(update: Update, context: Context) -> None:
    """Starts the survey picked from /survey."""
    _, survey_id = pressed_data(update)
    await respond(update, context, StartSurvey(respondent(update), event_id(update), survey_id), update.callback_query)


async def language_chosen(update: Update, context: Context) -> None:
    """Stores the language picked from /language."""
    _, language = pressed_data(update)
    if language not in languages():
        await refuse(update, context)
        return
    await respond(update, context, SetLanguage(respondent(update), event_id(update), language), update.callback_query)


async def confirmed(update: Update, context: Context) -> None:
    """Carries out /stop or /forget on Yes; Cancel changes nothing."""
    _, action, choice = pressed_data(update)
    who, query = respondent(update), update.callback_query
    assert query is not None
    if choice == "yes":
        event = OptOut(who, event_id(update)) if action == "stop" else Forget(who, event_id(update))
        await respond(update, context, event, pressed=query)
        return
    sender = context.bot_data.sender
    await sender.answer_query(query)
    if isinstance(query.message, Message):
        await sender.edit(query.message, translate("cancelled", await context.bot_data.people.language_of(who)))


async def refuse(update: Update, context: Context) -> None:
    """Unknown or malformed button data: a short notice on the button, nothing else."""
    assert update.callback_query is not None
    log.info("telegram update %s: refused the data of a button press", update.update_id)
    language = await context.bot_data.people.language_of(respondent(update))
    await context.bot_data.sender.answer_query(update.callback_query, translate("button_invalid", language))
