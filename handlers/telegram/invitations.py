"""Survey invitations on Telegram: what starting the survey answers (its first question with its buttons), sent
once to the person invited; and their reminders: the open question again, under a short notice."""

from __future__ import annotations

from bot.events import Respondent
from bot.invitations import Invitations
from bot.outbound import Refused, RetryLater, SendResult, Sent, SurveyInvitation, SurveyReminder, Unreachable
from bot.prompts import Reply
from bot.reminders import Reminders
from handlers.telegram.delivery import Delivery, DeliveryFailed
from handlers.telegram.inbox import CHANNEL

NOT_TO_SEND = "no longer to be sent: settled already, or the person opted out, blocked the bot or was forgotten"
NOTHING_TO_REMIND = "nothing to remind of: the survey finished, expired or was replaced, or the person opted out"


async def send(delivery: Delivery, invitations: Invitations, message: SurveyInvitation) -> SendResult:
    """The outbox's sender of invitations: opens the survey, then sends its reply as the person's own /start's."""
    if message.platform_id in delivery.unreachable:
        return Unreachable("the person blocked the bot")
    opening = await invitations.opening(message, CHANNEL)
    if opening is None:
        return Refused(NOT_TO_SEND)
    return await _delivered(delivery, opening.event.event_id, opening.event.who, opening.reply)


async def send_reminder(delivery: Delivery, reminders: Reminders, message: SurveyReminder) -> SendResult:
    """The outbox's sender of reminders: the notice and the open question, with its buttons."""
    if message.platform_id in delivery.unreachable:
        return Unreachable("the person blocked the bot")
    reminder = await reminders.reminder(message, CHANNEL)
    if reminder is None:
        return Refused(NOTHING_TO_REMIND)
    return await _delivered(delivery, reminder.event_id, reminder.who, reminder.reply)


async def _delivered(delivery: Delivery, event_id: str, who: Respondent, reply: Reply) -> SendResult:
    """Sends the reply once, as the person's own event's; unreachable when the person blocked the bot meanwhile."""
    try:
        await delivery.deliver(event_id, who, reply)
    except DeliveryFailed as error:
        return RetryLater(str(error))
    if who.user_id in delivery.unreachable:
        return Unreachable("the person blocked the bot")
    return Sent()
