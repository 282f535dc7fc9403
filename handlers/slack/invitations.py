"""Survey invitations on Slack: what starting the survey answers (its first question with its buttons), posted
once in the person's DM, starting the survey's thread."""

from __future__ import annotations

from functools import partial

from slack_sdk.errors import SlackApiError

from bot.invitations import Invitations
from bot.outbound import Refused, RetryLater, SendResult, Sent, SurveyInvitation, Unreachable
from bot.prompts import Message, as_messages
from handlers.slack.common import CHANNEL, DirectThread, Services

NOT_TO_SEND = "no longer to be sent: settled already, or the person opted out, blocked the bot or was forgotten"


async def send(services: Services, invitations: Invitations, message: SurveyInvitation) -> SendResult:
    """The outbox's sender of invitations: opens the survey, then posts its reply as a DM's own start would."""
    opening = await invitations.opening(message, CHANNEL)
    if opening is None:
        return Refused(NOT_TO_SEND)
    thread = DirectThread(services, message.platform_id, None)
    results: list[SendResult] = []

    async def post(one: Message) -> SendResult:
        result = await thread.post(one)
        results.append(result)
        return result

    posts = [partial(post, one) for one in as_messages(opening.reply.prompts)]
    try:
        await services.replies.send(
            CHANNEL, opening.event.event_id, posts, to=opening.event.who, redelivered=opening.reply.duplicate
        )
    except SlackApiError as error:  # after slack_sdk's own retries of 429, 5xx and lost connections
        return RetryLater(str(error.response.get("error")))
    unreachable = next((result for result in results if isinstance(result, Unreachable)), None)
    return unreachable or Sent()
