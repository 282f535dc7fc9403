"""The slack-bolt app of bench/slack_hotpath.py that answers each press as a hand-written survey bot would, storing
nothing: what any bot that answers the press costs on bolt.

Run: `python bench/baselines/answering_bolt_app.py PORT API_BASE_URL BOT_TOKEN SIGNING_SECRET` (the bench's fake ones).
bare_bolt_app.py's app (bolt's aiohttp server, signature check, authorisation, routing), whose listeners acknowledge,
then make through the app's slack_sdk AsyncWebClient the Web API calls feedbackbot makes for the same press:
- Start of a survey on App Home: chat.postMessage of the first question into the person's DM (a section, the five
  score buttons, their ends, as feedbackbot's csat question);
- a score: chat.update of the pressed message (its buttons replaced by the score), then chat.postMessage of the next
  question into the question's thread.
No database, no users.info for the person's locale, no pacing: the floor a bot answering the press can reach.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

INTRO = "Two quick questions about your experience."
QUESTION = "How satisfied are you with our service?"
NEXT_QUESTION = "We're sorry. What went wrong?"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def first_question() -> list[dict[str, Any]]:
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": str(score)}}
        | {"action_id": f"survey_answer_{score - 1}", "value": f"csat|satisfaction|{score}"}
        for score in range(1, 6)
    ]
    actions = {"type": "actions", "elements": buttons}
    return [section(f"{INTRO}\n\n*{QUESTION}*"), actions, context("1 = Very dissatisfied · 5 = Very satisfied")]


def build(base_url: str, token: str, signing_secret: str) -> AsyncApp:
    app = AsyncApp(client=AsyncWebClient(token=token, base_url=base_url), signing_secret=signing_secret)

    @app.action(re.compile("^survey_start_"))
    async def start(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=body["user"]["id"], text=f"{INTRO}\n{QUESTION}", blocks=first_question())

    @app.action(re.compile("^survey_answer_"))
    async def answer(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        chosen = action["text"]["text"]
        container = body["container"]
        answered = [section(f"*{QUESTION}*"), context(f"✅ {chosen}")]
        await client.chat_update(
            channel=container["channel_id"], ts=container["message_ts"], text=f"{QUESTION} {chosen}", blocks=answered
        )
        thread = body["message"].get("thread_ts") or body["message"]["ts"]
        next_question = [section(f"*{NEXT_QUESTION}*")]
        await client.chat_postMessage(
            channel=body["user"]["id"], thread_ts=thread, text=NEXT_QUESTION, blocks=next_question
        )

    return app


if __name__ == "__main__":
    port, base_url, token, signing_secret = sys.argv[1:]
    build(base_url, token, signing_secret).start(port=int(port), host="127.0.0.1")
