"""The terminal channel: the person at the keyboard takes surveys as a customer would."""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from bot.correlation import correlated, new_id
from bot.engine import Engine
from bot.events import Complain, Event, Respondent, StartSurvey, TextAnswer
from bot.i18n import translate, words
from bot.prompts import ComplaintOpened, Notice, Prompt, QuestionPrompt, Reply

CHANNEL = "console"
HELP = "Commands: /survey NAME to start a survey ({surveys}), /complain TEXT, /help, /quit."
UNKNOWN_COMMAND = "Unknown command: {command}."
COMMAND = re.compile(r"/\w+")
DATABASE_ERRORS = (SQLAlchemyError, OSError)
log = logging.getLogger(__name__)


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input, read in a daemon thread so that a waiting read never blocks shutdown."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class ConsoleChannel:
    """Reads lines, turns them into core events, prints the prompts back as numbered text."""

    def __init__(self, engine: Engine, *, first_survey: str, out: TextIO, user_id: str | None = None) -> None:
        self.engine = engine
        self.conversations = engine.conversations
        self.catalogue = engine.catalogue
        self.first_survey = first_survey
        self.out = out
        self.who = Respondent(channel=CHANNEL, user_id=user_id or getpass.getuser(), language=None)

    async def run(self, lines: AsyncIterator[str]) -> None:
        """Starts the first survey, then answers line by line until /quit or the end of input."""
        await self.take(f"/survey {self.first_survey}")
        async for raw in lines:
            line = raw.strip()
            if line.partition(" ")[0].lower() in ("/quit", "/exit"):
                return
            await self.take(line)

    async def take(self, line: str) -> None:
        """Answers one line, under a correlation id of its own. In a database outage nothing of it is stored: the
        person is asked to type it again."""
        with correlated(new_id(CHANNEL)):
            try:
                await self.answer(line)
            except DATABASE_ERRORS as error:
                log.warning(
                    "terminal channel: the database is unavailable (%s); the line was not stored",
                    type(error).__name__,
                )
                self.say(translate("database_unavailable", self.who.language))
                self.prompt()

    async def answer(self, line: str) -> None:
        """A command, or else an answer to the open question."""
        command, _, rest = line.partition(" ")
        match command.lower():
            case "/help":
                self.show_help()
                if question := await self.conversations.open_question(self.who):
                    self.say(render_prompt(question))
                self.prompt()
            case "/survey":
                await self.send(StartSurvey(self.who, self.event_id(), rest.strip() or self.first_survey))
            case "/complain":
                await self.send(Complain(self.who, self.event_id(), rest))
            case name if COMMAND.fullmatch(name) and name not in words("words_skip"):
                self.say(UNKNOWN_COMMAND.format(command=command))
                self.show_help()
                self.prompt()
            case _:
                await self.send(TextAnswer(self.who, self.event_id(), line))

    async def send(self, event: Event) -> None:
        reply = await self.engine.handle(event)
        self.render(reply)

    def render(self, reply: Reply) -> None:
        for prompt in reply.prompts:
            self.say(render_prompt(prompt))
        if not any(isinstance(prompt, QuestionPrompt) for prompt in reply.prompts):
            self.show_help()  # no question pending: say what can be done next
        self.prompt()

    def prompt(self) -> None:
        self.out.write("> ")
        self.out.flush()

    def show_help(self) -> None:
        self.say(HELP.format(surveys=self.catalogue.available))

    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    @staticmethod
    def event_id() -> str:
        return uuid.uuid4().hex


def render_prompt(prompt: Prompt) -> str:
    """A prompt as terminal text: scales and choices numbered, end labels shown."""
    match prompt:
        case QuestionPrompt():
            return render_question(prompt)
        case ComplaintOpened():
            return f"! {prompt.text}"
        case Notice():
            return prompt.text


def render_question(question: QuestionPrompt) -> str:
    lines = [question.text]
    if question.kind in ("csat", "nps", "ces", "rating"):
        low, high = question.options[0].value, question.options[-1].value
        ends = f" ({low} = {question.low_label}, {high} = {question.high_label})" if question.low_label else ""
        lines.append(f"    Type a number from {low} to {high}{ends}.")
    elif question.kind == "yes_no":
        lines.append("    " + " / ".join(option.label for option in question.options))
    elif question.options:
        lines.extend(f"    {number}) {option.label}" for number, option in enumerate(question.options, 1))
    if question.skip:
        lines.append(f"    (optional: type “{question.skip.value}” to skip)")
    return "\n".join(lines)
