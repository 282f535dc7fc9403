"""A lean loopback Bot API for the hot-path benchmark, with the customers who drive it.

tests/fakes/telegram_api.py checks every call against the spec and keeps every message; that is what the tests need,
and too slow and too big for 200 customers at once or 100,000 open surveys. This one answers the few methods the
three bots call (getUpdates with long polling, sendMessage, editMessageText, answerCallbackQuery and the start-up
calls) with spec-shaped objects, and keeps only what the customers need: the question each one waits on.

Updates are polled (getUpdates), or, once told the bots' webhook URLs, posted to them in turn (bench/scaleout.py).
It runs in its own process (`serve` below, started by bench/hotpath.py through a multiprocessing pipe), so the bot's
process CPU is the bot's alone. Customers run in a closed loop: each takes its next step when the reply it waits for
arrives, and a new customer starts when one finishes, so `concurrency` of them are always mid-flow.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import ClientError, ClientSession, web

TOKEN = "123456789:BENCH-fake-telegram-token"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Bench Bot", "username": "bench_bot"}
BOT_USER |= {"can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_POLL_SECONDS = 1.0  # a stopping bot waits at most this long for its last poll
# A bot opens a connection per request in flight: hundreds at once must not be refused (the default backlog is 128),
# nor closed while idle between two runs.
BACKLOG = 4096
KEEP_ALIVE_SECONDS = 3600
QUIET_SECONDS = 0.3  # after the last customer, the bot's trailing calls (and their CPU) belong to the run
COMMENT = "The parcel arrived late and the courier was rude"
Params = dict[str, Any]


def chat(chat_id: int) -> Params:
    return {"id": chat_id, "type": "private", "first_name": "Customer", "username": f"customer{chat_id}"}


def sender(chat_id: int) -> Params:
    return {"id": chat_id, "is_bot": False, "first_name": "Customer", "language_code": "en"}


def has_buttons(message: Params) -> bool:
    return bool(message.get("reply_markup", {}).get("inline_keyboard"))


@dataclass
class Customer:
    """One person going through the flow: what they did last, and when."""

    chat_id: int
    step: int = 0
    sent_at: float = 0.0
    message_ids: int = 0


# A flow is the list of what the customer waits for after each of their steps; `Customers.act` takes the steps.
FLOWS = {
    "survey": ("question", "follow-up", "any"),  # /start csat, press the lowest score, type a comment
    "echo": ("any", "any", "any"),  # three texts, each echoed
    "open": ("question",),  # /start csat and leave the survey open
}


@dataclass
class Phase:
    """`total` customers through `flow`, `concurrency` at a time; the reply times of every step."""

    flow: str
    total: int
    concurrency: int
    first_chat: int
    started: int = 0
    finished: int = 0
    latencies: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class FakeBotApi:
    """The server, its update queue and the customers of the phase under way."""

    def __init__(self) -> None:
        self.updates: deque[Params] = deque()
        self.last_update_id = 0
        self.new_update = asyncio.Event()
        self.polled = asyncio.Event()
        self.calls: Counter[str] = Counter()
        self.last_call = time.perf_counter()
        self.customers: dict[int, Customer] = {}
        self.phase: Phase | None = None
        self.callback_ids = 0
        self.limit = SendLimit()
        self.webhooks: Webhooks | None = None  # set: updates are posted to the bots rather than polled

    # HTTP

    async def serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        self.calls[method] += 1
        if method == "getUpdates":
            self.polled.set()
        else:
            self.last_call = time.perf_counter()
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method == "sendMessage" and (wait := self.limit.refusal()) is not None:
            refused = {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}"}
            return web.json_response(refused | {"parameters": {"retry_after": wait}}, status=429)
        result = await self.get_updates(params) if method == "getUpdates" else self.answer(method, params)
        return web.json_response({"ok": True, "result": result})

    async def get_updates(self, params: Params) -> list[Params]:
        offset = int(params.get("offset") or 0)
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        if not self.updates and timeout > 0:
            self.new_update.clear()
            try:
                await asyncio.wait_for(self.new_update.wait(), timeout)
            except TimeoutError:
                return []
        limit = int(params.get("limit") or 100)
        return [self.updates[n] for n in range(min(limit, len(self.updates)))]

    def answer(self, method: str, params: Params) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            return self.send_message(params)
        if method == "editMessageText":
            chat_id = int(params["chat_id"])
            return {"message_id": int(params["message_id"]), "from": BOT_USER, "chat": chat(chat_id)} | {
                "date": int(time.time()),
                "edit_date": int(time.time()),
                "text": params["text"],
            }
        if method == "getMyCommands":
            return []
        return True  # answerCallbackQuery, setMyCommands, deleteWebhook, ...: True is their whole answer

    def send_message(self, params: Params) -> Params:
        chat_id = int(params["chat_id"])
        customer = self.customers.get(chat_id)
        message_id = 1
        if customer is not None:
            customer.message_ids += 1
            message_id = customer.message_ids
        message: Params = {"message_id": message_id, "from": BOT_USER, "chat": chat(chat_id)}
        message |= {"date": int(time.time()), "text": params["text"]}
        if "inline_keyboard" in (markup := params.get("reply_markup") or {}):
            message["reply_markup"] = markup
        if customer is not None:
            self.replied(customer, message)
        return message

    # customers

    def push(self, update: Params) -> None:
        self.last_update_id += 1
        if self.webhooks is not None:
            self.webhooks.post({"update_id": self.last_update_id, **update})
            return
        self.updates.append({"update_id": self.last_update_id, **update})
        self.new_update.set()

    def incoming(self, customer: Customer, **content: Any) -> Params:
        customer.message_ids += 1
        message = {"message_id": customer.message_ids, "from": sender(customer.chat_id), "chat": chat(customer.chat_id)}
        return message | {"date": int(time.time()), **content}

    def act(self, customer: Customer, question: Params | None) -> None:
        """The customer's next step in the phase's flow."""
        assert self.phase is not None
        customer.sent_at = time.perf_counter()
        if self.phase.flow == "echo":
            self.push({"message": self.incoming(customer, text=f"Hello number {customer.step}")})
        elif customer.step == 0:
            entity = {"type": "bot_command", "offset": 0, "length": len("/start")}
            self.push({"message": self.incoming(customer, text="/start csat", entities=[entity])})
        elif customer.step == 1:
            assert question is not None
            lowest = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            self.callback_ids += 1
            query = {"id": str(self.callback_ids), "from": sender(customer.chat_id), "message": question}
            self.push({"callback_query": query | {"chat_instance": str(customer.chat_id), "data": lowest}})
        else:
            self.push({"message": self.incoming(customer, text=COMMENT)})

    def replied(self, customer: Customer, message: Params) -> None:
        """A message to the customer: if it is the one they wait for, they take their next step."""
        assert self.phase is not None
        awaited = FLOWS[self.phase.flow][customer.step]
        if (awaited == "question" and not has_buttons(message)) or (awaited == "follow-up" and has_buttons(message)):
            return  # e.g. a greeting before the question
        self.phase.latencies.append(time.perf_counter() - customer.sent_at)
        customer.step += 1
        if customer.step < len(FLOWS[self.phase.flow]):
            self.act(customer, message)
            return
        del self.customers[customer.chat_id]
        self.phase.finished += 1
        self.start_customer()
        if self.phase.finished == self.phase.total:
            self.phase.done.set()

    def start_customer(self) -> None:
        assert self.phase is not None
        if self.phase.started < self.phase.total:
            customer = Customer(self.phase.first_chat + self.phase.started)
            self.phase.started += 1
            self.customers[customer.chat_id] = customer
            self.act(customer, None)

    async def run_phase(self, phase: Phase, seconds: float) -> Params:
        """Runs the customers to the end; then waits until the bot is quiet (its trailing sends are done)."""
        self.phase, self.calls = phase, Counter()
        started = time.perf_counter()
        for _ in range(phase.concurrency):
            self.start_customer()
        try:
            await asyncio.wait_for(phase.done.wait(), seconds)
        except TimeoutError:
            return {"error": f"{phase.finished} of {phase.total} customers finished within {seconds:g} s"}
        elapsed = time.perf_counter() - started
        while (idle := time.perf_counter() - self.last_call) < QUIET_SECONDS:  # noqa: ASYNC110  (a call resets it)
            await asyncio.sleep(QUIET_SECONDS - idle)
        self.phase = None
        return {"elapsed": elapsed, "latencies": phase.latencies, "calls": dict(self.calls)}

    async def wait_for_poll(self, seconds: float) -> bool:
        """True once the bot has polled (it is up)."""
        self.polled.clear()
        try:
            await asyncio.wait_for(self.polled.wait(), seconds)
        except TimeoutError:
            return False
        return True


@dataclass
class SendLimit:
    """Telegram's overall limit as the fake enforces it: at most `per_second` sendMessage calls in any second (None:
    no limit); past it, a 429 asking for a second's wait. It also notes when each accepted send arrived."""

    per_second: float | None = None
    accepted: deque[float] = field(default_factory=deque)  # the last second's sends
    sent_at: list[float] = field(default_factory=list)
    refused: int = 0

    def refusal(self) -> int | None:
        now = time.perf_counter()
        while self.accepted and self.accepted[0] <= now - 1:
            self.accepted.popleft()
        if self.per_second is not None and len(self.accepted) >= self.per_second:
            self.refused += 1
            return 1
        self.accepted.append(now)
        self.sent_at.append(now)
        return None


class Webhooks:
    """Telegram's webhook delivery: each update POSTed, with the secret token, to the bots' webhook URLs in turn (as
    a load balancer in front of several processes spreads them). An update refused, or whose connection failed, is
    posted again, as Telegram does."""

    def __init__(self, urls: list[str], secret: str) -> None:
        self.session = ClientSession(headers={"X-Telegram-Bot-Api-Secret-Token": secret})
        self.urls = itertools.cycle(urls)
        self.tasks: set[asyncio.Task[None]] = set()
        self.refused = 0

    def post(self, update: Params) -> None:
        task = asyncio.create_task(self._deliver(next(self.urls), update))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, url: str, update: Params) -> None:
        while True:
            try:
                async with self.session.post(url, json=update) as response:
                    if response.status == 200:
                        return
            except ClientError:  # a kept-alive connection the bot closed as it was reused, say
                pass
            self.refused += 1
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.session.close()


async def read_params(request: web.Request) -> Params:
    """PTB posts form fields with objects JSON-encoded."""
    if request.content_type == "application/json":
        body: Params = await request.json()
        return body
    params: Params = {}
    for key, value in (await request.post()).items():
        text = value if isinstance(value, str) else ""
        params[key] = json.loads(text) if text[:1] in "[{" else text
    return params


def serve(connection: Connection) -> None:
    """The fake's process: answers `(command, *args)` requests from the pipe until it gets None."""
    asyncio.run(serve_commands(connection))


async def serve_commands(connection: Connection) -> None:
    fake = FakeBotApi()
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", fake.serve)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEP_ALIVE_SECONDS)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=BACKLOG).start()
    host, port = runner.addresses[0][:2]
    connection.send(f"http://{host}:{port}/bot")
    loop = asyncio.get_running_loop()
    try:
        while (command := await loop.run_in_executor(None, connection.recv)) is not None:
            name, *args = command
            if name == "poll":
                connection.send(await fake.wait_for_poll(*args))
            elif name == "phase":
                flow, total, concurrency, first_chat, timeout = args
                connection.send(await fake.run_phase(Phase(flow, total, concurrency, first_chat), timeout))
            elif name == "reset":
                fake.updates.clear()
                connection.send(True)
            elif name == "limit":  # a new limit, and the sends counted afresh
                fake.limit = SendLimit(*args)
                connection.send(True)
            elif name == "webhooks":  # post updates to these URLs with this secret; no URLs: back to polling
                urls, secret = args
                if fake.webhooks is not None:
                    await fake.webhooks.close()
                fake.webhooks = Webhooks(urls, secret) if urls else None
                connection.send(True)
            elif name == "sends":  # when each accepted sendMessage arrived (seconds), and how many were refused
                connection.send((fake.limit.sent_at, fake.limit.refused))
    finally:
        if fake.webhooks is not None:
            await fake.webhooks.close()
        await runner.cleanup()
