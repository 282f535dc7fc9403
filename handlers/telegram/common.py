"""What every Telegram handler shares: the services, and turning an update into a core event and back."""

from __future__ import annotations

from telegram import CallbackQuery, Update
from telegram.ext import CallbackContext, ExtBot

from bot.cases import Cases
from bot.engine import Engine
from bot.events import Event, Respondent
from bot.links import Links
from bot.people import People
from bot.surveys import Survey
from handlers.telegram.delivery import Delivery, Sender
from handlers.telegram.inbox import CHANNEL, update_event_id


class Services:
    """The bot's typed `bot_data`: set once when the channel is built."""

    engine: Engine
    people: People
    cases: Cases
    delivery: Delivery
    sender: Sender
    surveys: dict[str, Survey]
    links: Links
    default_survey: str
    staff_chat_id: int | None
    failed_updates: set[int]

    def __init__(self) -> None:
        self.failed_updates = set()


Context = CallbackContext[ExtBot[None], dict[object, object], dict[object, object], Services]


def respondent(update: Update) -> Respondent:
    user = update.effective_user
    assert user is not None  # the handlers' filters only let through updates from a user
    return Respondent(channel=CHANNEL, user_id=str(user.id), language=user.language_code)


def event_id(update: Update) -> str:
    return update_event_id(update.update_id)


async def respond(update: Update, context: Context, event: Event, pressed: CallbackQuery | None = None) -> None:
    """Applies the event and delivers the reply; a redelivered update sends only what was not sent yet."""
    services = context.bot_data
    reply = await services.engine.handle(event)
    await services.delivery.deliver(event.event_id, event.who, reply, pressed)
