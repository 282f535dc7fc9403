"""Survey invitations on Slack: what starting the survey answers (its first question with its buttons), posted
once in the person's DM, starting the survey's thread; and their reminders: the open question again, under a short
notice."""

from __future__ import annotations

from functools import partial

from slack_sdk.errors import SlackApiError

from bot.events import Respondent
from bot.invitations import Invitations
from bot.outbound import Refused, RetryLater, SendResult, Sent, SurveyInvitation, SurveyReminder, Unreachable
from bot.prompts import Message, Reply, as_messages
from bot.reminders import Reminders
from handlers.slack.common import CHANNEL, DirectThread, Services, log_api_error

NOT_TO_SEND = "no longer to be sent: settled already, or the person opted out, blocked the bot or was forgotten"
NOTHING_TO_REMIND = "nothing to remind of: the survey finished, expired or was replaced, or the person opted out"


async def send(
    services: Services, invitations: Invitations, reminders: Reminders, message: SurveyInvitation
) -> SendResult:
    """The outbox's sender of invitations: opens the survey, then posts its reply as a DM's own start would; once
    posted, the person's time zone is kept for their reminders' quiet hours."""
    opening = await invitations.opening(message, CHANNEL)
    if opening is None:
        return Refused(NOT_TO_SEND)
    result = await post_reply(services, opening.event.event_id, opening.event.who, opening.reply)
    if isinstance(result, Sent):
        await learn_timezone(services, reminders, opening.event.who)
    return result


async def learn_timezone(services: Services, reminders: Reminders, who: Respondent) -> None:
    """Asks users.info for the person's time zone, unless it is known, and keeps it; without an answer, the default
    zone serves. Once per person: users.info (Tier 4, about 100 calls a minute) would otherwise pace a campaign."""
    if await reminders.knows_timezone(who):
        return
    try:
        response = await services.client.users_info(user=who.user_id)
    except SlackApiError as error:
        log_api_error("users.info", error)
        return
    timezone = (response.get("user") or {}).get("tz")
    if isinstance(timezone, str) and timezone:
        await reminders.learn_timezone(who, timezone)


async def send_reminder(services: Services, reminders: Reminders, message: SurveyReminder) -> SendResult:
    """The outbox's sender of reminders: the notice and the open question, with its buttons, in the person's DM."""
    reminder = await reminders.reminder(message, CHANNEL)
    if reminder is None:
        return Refused(NOTHING_TO_REMIND)
    return await post_reply(services, reminder.event_id, reminder.who, reminder.reply)


async def post_reply(services: Services, event_id: str, who: Respondent, reply: Reply) -> SendResult:
    """Posts the reply in the person's DM, once; says whether it reached them."""
    thread = DirectThread(services, who.user_id, None)
    results: list[SendResult] = []

    async def post(one: Message) -> SendResult:
        result = await thread.post(one)
        results.append(result)
        return result

    posts = [partial(post, one) for one in as_messages(reply.prompts)]
    try:
        await services.replies.send(CHANNEL, event_id, posts, to=who, redelivered=reply.duplicate)
    except SlackApiError as error:  # after slack_sdk's own retries of 429, 5xx and lost connections
        return RetryLater(str(error.response.get("error")))
    unreachable = next((result for result in results if isinstance(result, Unreachable)), None)
    return unreachable or Sent()
