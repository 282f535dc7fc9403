"""Events: messages in the bot's DM answer the open survey; opening App Home shows it."""

from __future__ import annotations

import html
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot import analytics
from bot.cases import Cases
from bot.events import TextAnswer
from handlers.slack import blocks
from handlers.slack.cases import outcome_blocks
from handlers.slack.common import (
    CHANNEL,
    Services,
    acknowledge,
    answered,
    deliver,
    event_key,
    remember_answer,
)
from storage.db import Database


def register(app: AsyncApp, services: Services, cases: Cases, database: Database) -> None:
    """Each listener stores before Slack hears back; its lazy part (bolt's lazy listener) posts what follows."""

    async def store_dm_answer(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        """A person's message in the DM answers their open survey's question: stored, so a failure is retried."""
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins and the bot's own messages
        text = html.unescape(event.get("text", ""))  # Slack escapes &, < and > in message text
        who = await services.respondent(event["user"])  # a first message is answered in their language
        answer = TextAnswer(who, event_key(body), text, f"{event['channel']}:{event['ts']}")
        remember_answer(context, answer, await services.engine.handle(answer))

    async def reply_in_thread(event: dict[str, Any], context: AsyncBoltContext) -> None:
        """Posts the stored answer's reply in the survey's thread."""
        if stored := answered(context):
            await deliver(services, *stored, thread_ts=event.get("thread_ts") or event["ts"])

    async def publish_home(event: dict[str, Any]) -> None:
        """Publishes App Home: the person's open survey and answers, and for staff the figures and complaints."""
        if event.get("tab", "home") == "home":
            view = await home_for(services, cases, database, event["user"])
            await services.client.views_publish(user_id=event["user"], view=view)

    app.event({"type": "message", "channel_type": "im"})(ack=store_dm_answer, lazy=[reply_in_thread])

    @app.event("message")
    async def other_message(body: dict[str, Any]) -> None:
        """Messages elsewhere (channels the bot is in) are not surveys."""

    app.event("app_home_opened")(ack=acknowledge, lazy=[publish_home])


async def home_for(services: Services, cases: Cases, database: Database, user_id: str) -> Any:
    catalogue, people, who = services.engine.catalogue, services.engine.people, await services.respondent(user_id)
    staff = None
    if await services.is_staff(user_id):
        feedback = catalogue[services.settings.feedback_survey]
        csat = await analytics.csat_by_group(database, feedback, services.settings.min_group_size)
        nps = await analytics.nps_by_survey(database, catalogue.values(), services.settings.min_group_size)
        total, newest = await analytics.open_cases(database)
        staff = blocks.StaffFigures(csat, nps, total, newest, services.settings.min_group_size)
    follow_up_key = services.engine.keys.follow_up_key(who)
    outcomes = [
        block for case in await cases.awaiting_anonymous_answer(follow_up_key) for block in outcome_blocks(case)
    ]
    return blocks.home_view(
        surveys=list(catalogue.values()),
        language=await people.language_of(who),
        open_survey=await services.engine.conversations.open_survey_of(who),
        answers=await analytics.recent_answers_of(database, CHANNEL, user_id),
        staff=staff,
        outcomes=outcomes,
    )
