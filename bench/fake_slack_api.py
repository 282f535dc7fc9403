"""The loopback fake Slack Web API of bench/slack_hotpath.py, with the employees who press the buttons.

The Web API is tests/fakes/slack_api.py's FakeSlack, as the tests use it: every call is checked against
/work/shared/specs' Web API spec (tests/reference/specs) and every Block Kit payload against slack_sdk's models, and a
bench run fails when the bot broke a rule. It runs in its own process (`serve`, through a multiprocessing pipe), so
the bot's process CPU is the bot's alone; the employees run in it too, posting signed block_actions requests to the
bot's /slack/events as Slack does (tests/fakes/slack_signing.py).

Each employee is new to the bot and takes the shipped csat survey: presses its Start button on App Home (waits for
the first question in the DM), then presses the lowest score of that question (waits for the next question in the
question's thread). Employees run in a closed loop: `concurrency` of them at once, each starting again as a new
employee until the phase's time is up. For the bare bolt app ("ack" flow) each press waits for the acknowledgement
only, and the score pressed is that of a question shaped like the bot's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, TCPConnector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes lives beside the packages

from tests.fakes.slack_api import FakeSlack, Params  # noqa: E402
from tests.fakes.slack_signing import SIGNING_SECRET, block_actions, im_channel_id, new_ts  # noqa: E402

SURVEY = "csat"
START_BUTTON = "survey_start_0"  # App Home's first Start button (handlers/slack/blocks.py), its value the survey id
ANSWER_WAIT_SECONDS = 30.0  # a bot that posts nothing for this long has failed the run
QUIET_SECONDS = 0.3  # after the last employee, the bot's trailing calls (and their CPU) belong to the run
FIRST_USER = 1_000_000
Awaited = Callable[[Params], bool]


def has_buttons(message: Params) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks", []))


def in_thread(message: Params) -> bool:
    return bool(message.get("thread_ts"))


def question_like_the_bots() -> Params:
    """The csat question as feedbackbot posts it (section, five buttons, their ends): what the bare app's employees
    press."""
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": str(n)}}
        | {"action_id": f"survey_answer_{n - 1}", "value": f"1|satisfaction|{n}"}
        for n in range(1, 6)
    ]
    question = {"type": "mrkdwn", "text": "Two quick questions.\n\n*How satisfied are you with our service?*"}
    ends = {"type": "mrkdwn", "text": "1 = Very dissatisfied · 5 = Very satisfied"}
    blocks = [{"type": "section", "text": question}, {"type": "actions", "elements": buttons}]
    blocks.append({"type": "context", "elements": [ends]})
    return {"type": "message", "ts": new_ts(), "text": "How satisfied are you with our service?", "blocks": blocks}


@dataclass
class Phase:
    """Employees through the survey, `concurrency` at once, until `seconds` are up; every press's wait."""

    url: str
    flow: str  # "survey": wait for the bot's messages; "ack": for the acknowledgement only
    concurrency: int
    seconds: float
    presses: int = 0
    latencies: list[float] = field(default_factory=list)


class BenchSlack(FakeSlack):
    """FakeSlack that hands each employee the message they wait for as soon as the bot posts it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, tuple[Awaited, asyncio.Future[Params]]] = {}  # DM channel -> what, and who waits
        self.users_made = itertools.count(FIRST_USER)

    def _post_message(self, args: Params) -> Params:
        posted = super()._post_message(args)
        awaited, waiter = self.waiting.get(posted["channel"], (None, None))
        if awaited is not None and waiter is not None and awaited(posted["message"]) and not waiter.done():
            del self.waiting[posted["channel"]]
            waiter.set_result(posted["message"])
        return posted

    def new_employee(self) -> str:
        user_id = f"U{next(self.users_made)}"
        self.add_user(user_id, f"employee-{user_id.lower()}")
        return user_id

    async def run_phase(self, phase: Phase) -> Params:
        """The employees to the end of the phase; then the bot's trailing calls, until it has been quiet a while."""
        calls_before = len(self.calls)
        deadline = time.perf_counter() + phase.seconds
        started = time.perf_counter()
        async with ClientSession(connector=TCPConnector(limit=0)) as session:
            employees = [self.employees(session, phase, deadline) for _ in range(phase.concurrency)]
            try:
                await asyncio.gather(*employees)
            except (AssertionError, TimeoutError) as error:
                return {"error": str(error) or type(error).__name__}
        elapsed = time.perf_counter() - started
        while self.calls and (idle := time.monotonic() - self.calls[-1].at) < QUIET_SECONDS:  # noqa: ASYNC110  (a call resets it)
            await asyncio.sleep(QUIET_SECONDS - idle)
        if self.violations:
            return {"error": "the bot called the Web API wrongly: " + "; ".join(map(str, self.violations[:3]))}
        calls: Counter[str] = Counter()
        sizes: Counter[str] = Counter()  # bytes of JSON arguments
        for call in self.calls[calls_before:]:
            calls[call.method] += 1
            sizes[call.method] += len(json.dumps(call.args))
        payloads = {method: sizes[method] // calls[method] for method in calls}
        result = {"elapsed": elapsed, "presses": phase.presses, "latencies": phase.latencies, "calls": dict(calls)}
        return result | {"payloads": payloads}

    async def employees(self, session: ClientSession, phase: Phase, deadline: float) -> None:
        """One slot of the closed loop: a new employee takes the survey as soon as the last one finished."""
        while time.perf_counter() < deadline:
            await self.take_survey(session, phase, self.new_employee())

    async def take_survey(self, session: ClientSession, phase: Phase, user_id: str) -> None:
        dm = im_channel_id(user_id)
        start = block_actions(START_BUTTON, SURVEY, user_id=user_id, channel_id=dm)
        question = await self.press(session, phase, start, dm, has_buttons)
        lowest = next(block for block in question["blocks"] if block["type"] == "actions")["elements"][0]
        answer = block_actions(lowest["action_id"], lowest["value"], user_id=user_id, channel_id=dm, message=question)
        await self.press(session, phase, answer, dm, in_thread)

    async def press(self, session: ClientSession, phase: Phase, inbound: Any, dm: str, awaited: Awaited) -> Params:
        """Posts a press; returns the message the employee then waits for (a question like the bot's in the ack
        flow)."""
        waiter: asyncio.Future[Params] = asyncio.get_running_loop().create_future()
        if phase.flow == "survey":
            self.waiting[dm] = (awaited, waiter)
        else:
            waiter.set_result(question_like_the_bots())
        sent_at = time.perf_counter()
        async with session.post(phase.url, data=inbound.body, headers=inbound.headers(SIGNING_SECRET)) as response:
            await response.read()
            assert response.status == 200, f"the bot answered a press with HTTP {response.status}"
        message = await asyncio.wait_for(waiter, ANSWER_WAIT_SECONDS)
        phase.latencies.append(time.perf_counter() - sent_at)
        phase.presses += 1
        return message


def serve(connection: Connection) -> None:
    """The fake's process: answers `(command, *args)` requests from the pipe until it gets None."""
    asyncio.run(serve_commands(connection))


async def serve_commands(connection: Connection) -> None:
    loop = asyncio.get_running_loop()
    async with BenchSlack() as fake:
        connection.send((fake.base_url, fake.token, SIGNING_SECRET))
        while (command := await loop.run_in_executor(None, connection.recv)) is not None:
            name, *args = command
            if name == "phase":
                connection.send(await fake.run_phase(Phase(*args)))
