"""The weekly digest in the Telegram staff chat: the chart as a photo, the text as its caption when it fits there,
else as a message after it. Plain text, no parse mode, as every staff message."""

from __future__ import annotations

import logging

from bot.outbound import Refused, RetryLater, SendResult, Sent, StaffDigest
from handlers.telegram.delivery import CAPTION_LIMIT, Blocked, Delivery, DeliveryFailed

log = logging.getLogger(__name__)


async def send(delivery: Delivery, message: StaffDigest) -> SendResult:
    chat_id = int(message.target)
    fits = len(message.text) <= CAPTION_LIMIT
    try:
        photo = await delivery.sender.send_photo(chat_id, message.chart_png, message.text if fits else message.title)
    except Blocked as error:
        return Refused(f"the staff chat refuses the bot's messages: {error}")
    except DeliveryFailed as error:
        return RetryLater(str(error))
    sent = Sent(None if photo is None else str(photo.message_id))
    if not fits:
        try:
            await delivery.sender.send(chat_id, message.text)
        except (Blocked, DeliveryFailed) as error:  # a retry would post the chart again: the text alone is lost
            log.error("the weekly digest's text did not follow its chart: %s", type(error).__name__)
    return sent
