"""Survey invitations on Telegram: what starting the survey answers (its first question with its buttons), sent
once to the person invited."""

from __future__ import annotations

from bot.invitations import Invitations
from bot.outbound import Refused, RetryLater, SendResult, Sent, SurveyInvitation, Unreachable
from handlers.telegram.delivery import Delivery, DeliveryFailed
from handlers.telegram.inbox import CHANNEL

NOT_TO_SEND = "no longer to be sent: settled already, or the person opted out, blocked the bot or was forgotten"


async def send(delivery: Delivery, invitations: Invitations, message: SurveyInvitation) -> SendResult:
    """The outbox's sender of invitations: opens the survey, then sends its reply as the person's own /start's."""
    if message.platform_id in delivery.unreachable:
        return Unreachable("the person blocked the bot")
    opening = await invitations.opening(message, CHANNEL)
    if opening is None:
        return Refused(NOT_TO_SEND)
    try:
        await delivery.deliver(opening.event.event_id, opening.event.who, opening.reply)
    except DeliveryFailed as error:
        return RetryLater(str(error))
    if message.platform_id in delivery.unreachable:
        return Unreachable("the person blocked the bot")
    return Sent()
