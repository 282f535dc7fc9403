"""Events: messages in the bot's DM answer the open survey; opening App Home shows it."""

from __future__ import annotations

import html
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import analytics
from bot.cases import Cases
from bot.events import TextAnswer
from handlers.slack import blocks
from handlers.slack.cases import outcome_blocks
from handlers.slack.common import CHANNEL, Services, deliver, event_key, log_api_error, respondent


def register(app: AsyncApp, services: Services, cases: Cases) -> None:
    @app.event({"type": "message", "channel_type": "im"})
    async def dm_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        """A person's message in the DM answers their open survey's question; the reply goes in the thread."""
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins and the bot's own messages
        who = respondent(event["user"])
        text = html.unescape(event.get("text", ""))  # Slack escapes &, < and > in message text
        answer = TextAnswer(who, event_key(body), text, f"{event['channel']}:{event['ts']}")
        reply = await services.engine.handle(answer)  # stored before Slack hears back: a failure is retried
        services.after_ack(deliver(services, answer, reply, thread_ts=event.get("thread_ts") or event["ts"]))

    @app.event("message")
    async def other_message(body: dict[str, Any]) -> None:
        """Messages elsewhere (channels the bot is in) are not surveys."""

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        """Publishes App Home: the person's open survey and answers, and for staff the figures and complaints."""
        if event.get("tab", "home") != "home":
            return
        services.after_ack(publish_home(services, cases, event["user"]))


async def publish_home(services: Services, cases: Cases, user_id: str) -> None:
    try:
        await services.client.views_publish(user_id=user_id, view=await home_for(services, cases, user_id))
    except SlackApiError as error:
        log_api_error("views.publish", error)


async def home_for(services: Services, cases: Cases, user_id: str) -> Any:
    engine, database = services.engine, services.engine.database
    staff = None
    if await services.is_staff(user_id):
        feedback = engine.surveys[services.settings.feedback_survey]
        csat = await analytics.csat_by_group(database, feedback, services.settings.min_group_size)
        nps = await analytics.nps_by_survey(database, engine.surveys.values(), services.settings.min_group_size)
        total, newest = await analytics.open_cases(database)
        staff = blocks.StaffFigures(csat, nps, total, newest, services.settings.min_group_size)
    follow_up_key = engine.follow_up_key(respondent(user_id))
    outcomes = [
        block for case in await cases.awaiting_anonymous_answer(follow_up_key) for block in outcome_blocks(case)
    ]
    return blocks.home_view(
        surveys=list(engine.surveys.values()),
        language=await engine.language_of(respondent(user_id)),
        open_survey=await engine.open_survey_of(respondent(user_id)),
        answers=await analytics.recent_answers_of(database, CHANNEL, user_id),
        staff=staff,
        outcomes=outcomes,
    )
