"""A channel made only for the tests, to show that a channel is one folder and one registry line: people talk to the
bot over HTTP (POST /memory/USER, the text as the body; the answer is the bot's reply as lines of text), and what the
bot sends on its own (case alerts) is kept in memory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from bot.app import Core
from bot.channels import Capability
from bot.config import ChannelSection
from bot.events import Event, Respondent, StartSurvey, TextAnswer
from bot.outbound import CaseAlert, OutboundMessage, Refused, SendResult, Sent
from bot.prompts import Prompt, QuestionPrompt

NAME = "memory"


class MemorySettings(ChannelSection):
    """The [memory] section."""

    enabled: bool = False
    staff_room: str | None = None  # where staff hear of new cases

    @property
    def configured(self) -> bool:
        return self.enabled

    @property
    def staff_destination(self) -> str | None:
        return self.staff_room


class MemoryChannel:
    name = NAME
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, core: Core, settings: MemorySettings) -> None:
        self.engine = core.engine
        self.settings = settings
        self.running = False
        self.alerts: asyncio.Queue[CaseAlert] = asyncio.Queue()

    def routes(self) -> Sequence[BaseRoute]:
        return [Route(f"/{NAME}/{{user}}", self.message, methods=["POST"])]

    async def message(self, request: Request) -> PlainTextResponse:
        """A person's line: `/survey ID` starts a survey, anything else answers the open question."""
        if not self.running:
            return PlainTextResponse("not started", status_code=503)
        who = Respondent(channel=NAME, user_id=request.path_params["user"])
        text = (await request.body()).decode()
        event: Event = TextAnswer(who, uuid.uuid4().hex, text)
        if text.startswith("/survey "):
            event = StartSurvey(who, uuid.uuid4().hex, text.removeprefix("/survey "))
        reply = await self.engine.handle(event)
        return PlainTextResponse("\n".join(render(prompt) for prompt in reply.prompts))

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def send(self, message: OutboundMessage) -> SendResult:
        if not isinstance(message, CaseAlert):
            return Refused(f"the memory channel keeps case alerts only, not {message.kind}")
        await self.alerts.put(message)
        return Sent(reference=f"alert-{message.case_id}")


def render(prompt: Prompt) -> str:
    """A prompt as a line of text; a question with its options."""
    if isinstance(prompt, QuestionPrompt) and prompt.options:
        return f"{prompt.text} [{' / '.join(option.value for option in prompt.options)}]"
    return prompt.text
