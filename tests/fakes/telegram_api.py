"""A loopback fake of the Telegram Bot API, so tests drive the real python-telegram-bot stack offline.

Point PTB at it with `ApplicationBuilder().token(fake.token).base_url(fake.base_url)` (or
`Bot(fake.token, base_url=fake.base_url)`). Every call is checked against tests/reference/specs/telegram-bot-api.json:
a wrong call is answered like Telegram (400 Bad Request; 404 Not Found for an unknown method; 401 for a wrong token)
and recorded in `fake.violations`, and the `fake_telegram` fixture fails the test at teardown while any remain.
Load the fixture with `pytest_plugins = ["tests.fakes.telegram_api"]` in the top-level conftest.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
import zlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

import pytest_asyncio
from aiohttp import web

from tests.fakes.base import FakeApi, Violation
from tests.fakes.telegram_spec import TelegramSpec, Upload

TOKEN = "123456789:TEST-fake-telegram-token"
GROUP_MEMBER = 1001  # default sender of group messages
SUPERGROUP_BELOW = -1_000_000_000_000  # supergroup ids look like -100xxxxxxxxxx
# Update types Telegram leaves out when allowed_updates is [] or was never set.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Methods refused with 403 when they target a chat in `block_user`.
SENDING = ("send", "copy", "forward", "edit")
CAPTION_LIMIT = 1024  # characters of a photo's caption
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Methods that count against `flood_limit`, and how long after a 429 a call is taken as already on its way
# (sent before the bot could have read that 429: a burst of calls from one busy event loop takes a while to arrive).
FLOOD_LIMITED = (*SENDING, "answerCallbackQuery")
IN_FLIGHT = 0.5
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
OTHER_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
FAILURE_TEXT = {
    429: "Too Many Requests: retry after {retry_after}",
    403: "Forbidden: bot was blocked by the user",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

JSON = Any
Params = dict[str, JSON]
ChatId = int | str


class Call(NamedTuple):
    """One request the fake received: method name, typed parameters, `time.monotonic()` of arrival."""

    method: str
    params: Params
    at: float


class ApiError(Exception):
    """An error answer as Telegram sends it; `violation` also records it as a misuse of the API."""

    def __init__(
        self, status: int, description: str, *, violation: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.description = status, description
        self.violation, self.retry_after = violation, retry_after

    def response(self) -> web.Response:
        body: Params = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


class FloodLimit:
    """Telegram's overall flood limit: a call beyond `calls` in `per_seconds` gets 429 and starts a bot-wide ban.

    Every call inside the ban gets 429 with the time left; one that arrives more than IN_FLIGHT after the 429 that
    began the ban came early (the bot could have known) and is recorded in `early`, as (method, arrival).
    """

    def __init__(self, calls: int, per_seconds: float, retry_after: int) -> None:
        self.calls, self.per_seconds, self.retry_after = calls, per_seconds, retry_after
        self.accepted: deque[float] = deque()
        self.ban_from = self.ban_until = 0.0
        self.bans = 0
        self.early: list[tuple[str, float]] = []

    def admit(self, method: str, at: float) -> None:
        """Counts a call arriving at `at` (time.monotonic()); raises the 429 when it is over the limit."""
        if at < self.ban_until:
            if at > self.ban_from + IN_FLIGHT:
                self.early.append((method, at))
            raise self._too_many(self.ban_until - at)
        while self.accepted and self.accepted[0] <= at - self.per_seconds:
            self.accepted.popleft()
        if len(self.accepted) >= self.calls:
            self.ban_from, self.ban_until = at, at + self.retry_after
            self.bans += 1
            raise self._too_many(self.retry_after)
        self.accepted.append(at)

    @staticmethod
    def _too_many(seconds: float) -> ApiError:
        retry_after = math.ceil(seconds)
        return ApiError(429, FAILURE_TEXT[429].format(retry_after=retry_after), retry_after=retry_after)


def now() -> int:
    return int(time.time())


def user(user_id: int, first_name: str = "Test", **extra: JSON) -> Params:
    """A (human) User object."""
    return {"id": user_id, "is_bot": False, "first_name": first_name, "username": f"user{user_id}", **extra}


def chat(chat_id: int) -> Params:
    """A Chat object: private for positive ids, supergroup for -100..., group for other negative ids."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Test", "username": f"user{chat_id}"}
    kind = "supergroup" if chat_id < SUPERGROUP_BELOW else "group"
    return {"id": chat_id, "type": kind, "title": f"Test {kind}"}


def buttons(message: Mapping[str, JSON]) -> list[Params]:
    """The inline keyboard buttons of a message, row by row."""
    return [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


class UpdateBuilder:
    """Builds spec-valid Update payloads (without update_id: `push_update` assigns it).

    Message ids continue the chat's numbering in the fake, shared with the messages the bot sends.
    """

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._ids = itertools.count(1)

    def message(self, chat_id: int, *, user_id: int | None = None, **content: JSON) -> Params:
        """A Message from a user (the private chat's owner, or GROUP_MEMBER in groups) with `content`."""
        sender = user_id if user_id is not None else (chat_id if chat_id > 0 else GROUP_MEMBER)
        message_id = self._fake.allocate_message_id(chat_id)
        return {"message_id": message_id, "from": user(sender), "chat": chat(chat_id), "date": now(), **content}

    def text(self, chat_id: int, text: str, *, user_id: int | None = None) -> Params:
        return {"message": self.message(chat_id, user_id=user_id, text=text)}

    def group_text(self, chat_id: int, text: str, *, user_id: int = GROUP_MEMBER) -> Params:
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        return self.text(chat_id, text, user_id=user_id)

    def command(self, chat_id: int, command: str, args: str = "", *, user_id: int | None = None) -> Params:
        """`/command args` with its bot_command entity."""
        text = f"/{command} {args}".rstrip()
        entity = {"type": "bot_command", "offset": 0, "length": len(command) + 1}
        return {"message": self.message(chat_id, user_id=user_id, text=text, entities=[entity])}

    def callback_query(self, message: Mapping[str, JSON], data: str, *, user_id: int | None = None) -> Params:
        """A press of the button with callback_data `data` on `message` (as returned by sendMessage)."""
        if data not in [b.get("callback_data") for b in buttons(message)]:
            raise ValueError(f"message {message['message_id']} has no button with callback_data {data!r}")
        chat_id = message["chat"]["id"]
        sender = user_id if user_id is not None else (chat_id if chat_id > 0 else GROUP_MEMBER)
        query = {"id": f"query-{next(self._ids)}", "from": user(sender), "message": dict(message)}
        return {"callback_query": {**query, "chat_instance": f"instance{chat_id}", "data": data}}

    def edited_message(self, message: Mapping[str, JSON], text: str) -> Params:
        """The user's `message` (a builder's payload["message"]) edited to `text`."""
        edited = {k: v for k, v in message.items() if k != "entities"}
        return {"edited_message": {**edited, "text": text, "edit_date": now()}}

    def sticker(self, chat_id: int, emoji: str = "👍", *, user_id: int | None = None) -> Params:
        size = {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}
        return self._media(chat_id, user_id, "sticker", {**self._file(), **size, "emoji": emoji})

    def photo(self, chat_id: int, caption: str | None = None, *, user_id: int | None = None) -> Params:
        sizes = [{**self._file(), "width": w, "height": w * 3 // 4} for w in (90, 1280)]
        extra = {"caption": caption} if caption else {}
        return {"message": self.message(chat_id, user_id=user_id, photo=sizes, **extra)}

    def voice(self, chat_id: int, duration: int = 3, *, user_id: int | None = None) -> Params:
        voice = {**self._file(), "duration": duration, "mime_type": "audio/ogg"}
        return self._media(chat_id, user_id, "voice", voice)

    def location(
        self, chat_id: int, latitude: float = 52.52, longitude: float = 13.405, *, user_id: int | None = None
    ) -> Params:
        return self._media(chat_id, user_id, "location", {"latitude": latitude, "longitude": longitude})

    def contact(self, chat_id: int, phone_number: str = "+15555550123", *, user_id: int | None = None) -> Params:
        """The sender shares their own contact (as a request_contact keyboard button does)."""
        update = self._media(chat_id, user_id, "contact", {"phone_number": phone_number, "first_name": "Test"})
        update["message"]["contact"]["user_id"] = update["message"]["from"]["id"]
        return update

    def _media(self, chat_id: int, user_id: int | None, kind: str, payload: Params) -> Params:
        return {"message": self.message(chat_id, user_id=user_id, **{kind: payload})}

    def _file(self) -> Params:
        n = next(self._ids)
        return {"file_id": f"file-{n}", "file_unique_id": f"unique-{n}", "file_size": 1024}


class FakeTelegram(FakeApi):
    """The fake Bot API server with its recorded calls, chat state, update queue and injected failures."""

    api_name = "the Telegram Bot API"

    def __init__(self, token: str = TOKEN, *, max_poll_timeout: float = 1.0, spec: TelegramSpec | None = None):
        super().__init__()
        self.token = token
        self.spec = spec or TelegramSpec.load()
        self.max_poll_timeout = max_poll_timeout
        self.bot: Params = user(int(token.split(":")[0]), "Feedback Bot", is_bot=True) | {
            "username": "feedback_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.build = UpdateBuilder(self)
        self.calls: list[Call] = []
        self.messages: dict[tuple[ChatId, int], Params] = {}  # current state of every known message
        self.blocked: set[ChatId] = set()
        self.commands: dict[str, list[Params]] = {}
        self.webhook_url = ""
        self.confirmed_offset = 0
        self.base_url = self.base_file_url = ""
        self._updates: list[Params] = []
        self._last_update_id = 0
        self._allowed: list[str] | None = None
        self._message_ids: dict[ChatId, int] = {}
        self._texts: list[tuple[ChatId, str]] = []
        self.photos: list[tuple[ChatId, Upload, str | None]] = []  # (chat, the image uploaded, its caption)
        self._open_queries: set[str] = set()
        self._answering = 0
        self.most_at_once = 0  # calls (getUpdates aside) being answered at the same time, at most
        self._failures: defaultdict[str, list[ApiError]] = defaultdict(list)
        self._delays: defaultdict[str, list[float]] = defaultdict(list)
        self._poll_generation = 0
        self.flood: FloodLimit | None = None
        self._slow_until = self._slow_answer = 0.0
        self._handlers: dict[str, Callable[[Params], JSON]] = {
            "getMe": lambda _: self.bot,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": lambda p: self._edit(p, p.get("reply_markup"), p.get("text")),
            "editMessageReplyMarkup": lambda p: self._edit(p, p.get("reply_markup")),
            "answerCallbackQuery": self._answer_callback_query,
            "setWebhook": self._set_webhook,
            "deleteWebhook": lambda p: self._set_webhook({"url": "", **p}),
            "getWebhookInfo": self._webhook_info,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": lambda p: self._set_my_commands({"commands": [], **p}),
            "getMyCommands": lambda p: self.commands.get(_scope_key(p), []),
            "getChat": self._get_chat,
        }

    # lifecycle

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=50 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._serve)
        root = await self._listen(app)
        self.base_url, self.base_file_url = f"{root}/bot", f"{root}/file/bot"
        return self

    # test controls

    def push_update(self, update: Mapping[str, JSON]) -> int:
        """Queue an update for getUpdates (assigning the next update_id if missing); return its update_id."""
        update = {"update_id": self._last_update_id + 1, **update}
        if errors := self.spec.check(update, ["Update"], "update"):
            raise ValueError("invalid update: " + "; ".join(errors))
        self._last_update_id = max(self._last_update_id, update["update_id"])
        self._updates = sorted([*self._updates, update], key=lambda u: u["update_id"])
        for key in ("message", "edited_message"):
            if key in update:
                self._remember(update[key])
        if "callback_query" in update:
            self._open_queries.add(update["callback_query"]["id"])
        self._pulse()
        return int(update["update_id"])

    def fail(
        self, method: str, status: int = 429, times: int = 1, retry_after: int = 1, description: str | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 carries parameters.retry_after)."""
        text = description or FAILURE_TEXT.get(status, HTTPStatus(status).phrase).format(retry_after=retry_after)
        error = ApiError(status, text, retry_after=retry_after if status == 429 else None)
        self._failures[method] += [error] * times

    async def recover(self) -> None:
        """Telegram is back: the calls of a killed bot that already reached the fake are answered first, failing as
        everything before them did (its connections closing says they are done); later calls work."""
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        await self.wait_for(lambda: not server.connections or None, timeout=10)
        self._failures.clear()

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before handling them (they still take effect)."""
        self._delays[method] += [seconds] * times

    def slow_down(self, answer_after: float, for_seconds: float) -> None:
        """For `for_seconds`, calls (but getUpdates) take effect at once and are answered `answer_after` s later."""
        self._slow_until, self._slow_answer = time.monotonic() + for_seconds, answer_after

    def flood_limit(self, calls: int, per_seconds: float = 1.0, retry_after: int = 1) -> FloodLimit:
        """From now on, sending calls (FLOOD_LIMITED) beyond `calls` per `per_seconds` start a ban (see FloodLimit)."""
        self.flood = FloodLimit(calls, per_seconds, retry_after)
        return self.flood

    def block_user(self, chat_id: ChatId) -> None:
        """From now on every send/edit to `chat_id` gets 403 "Forbidden: bot was blocked by the user"."""
        self.blocked.add(chat_id)

    # inspection

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_messages(self, chat_id: ChatId) -> list[str]:
        """Texts the bot sent (sendMessage) or set (editMessageText) in the chat, in order."""
        return [text for chat_key, text in self._texts if chat_key == chat_id]

    def sent_messages_by_chat(self, chat_ids: Iterable[ChatId]) -> dict[ChatId, list[str]]:
        """`sent_messages` of each chat, in one pass over the texts (a campaign's thousands of chats)."""
        texts: dict[ChatId, list[str]] = {chat_id: [] for chat_id in chat_ids}
        for chat_key, text in self._texts:
            if chat_key in texts:
                texts[chat_key].append(text)
        return texts

    def chat_messages(self, chat_id: ChatId) -> list[Params]:
        """Current state of the chat's known messages, oldest first."""
        return [m for (c, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1]) if c == chat_id]

    def last_bot_message(self, chat_id: ChatId) -> Params:
        sent = [m for m in self.chat_messages(chat_id) if m.get("from", {}).get("id") == self.bot["id"]]
        if not sent:
            raise LookupError(f"the bot sent nothing to {chat_id}")
        return sent[-1]

    @property
    def pending_updates(self) -> list[Params]:
        """Updates not yet confirmed by an offset."""
        return list(self._updates)

    def allocate_message_id(self, chat_id: ChatId) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    # HTTP

    async def _serve(self, request: web.Request) -> web.Response:
        method = self.spec.canonical(request.match_info["method"]) or request.match_info["method"]
        try:
            params = await self._read_params(request, method)
        except ValueError as exc:
            return self._refuse(method, {}, ApiError(400, f"Bad Request: can't parse request: {exc}", violation=True))
        self.calls.append(Call(method, params, time.monotonic()))
        self._answering += method != "getUpdates"
        self.most_at_once = max(self.most_at_once, self._answering)
        try:
            result = await self._answer(request.match_info["token"], method, params)
        except ApiError as error:
            return self._refuse(method, params, error)
        finally:
            self._answering -= method != "getUpdates"
            self._pulse()
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request, method: str) -> Params:
        """Query string, then the body: JSON, urlencoded or multipart (PTB sends form fields, objects JSON-encoded)."""
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body must be an object")
            return self.spec.decode_form(method, dict(request.query)) | body
        raw, uploads = dict(request.query), {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                uploads[key] = Upload(value.filename, len(data), data)
            else:
                raw[key] = value if isinstance(value, str) else bytes(value).decode()
        parameters = self.spec.methods.get(method, {})
        # uploads not named like a parameter are attachments referenced as "attach://<name>"
        return self.spec.decode_form(method, raw) | {k: v for k, v in uploads.items() if k in parameters}

    def _refuse(self, method: str, params: Params, error: ApiError) -> web.Response:
        if error.violation:
            self.violations.append(Violation(method, error.description, params))
        return error.response()

    async def _answer(self, token: str, method: str, params: Params) -> JSON:
        arrived = time.monotonic()
        if token != self.token:
            raise ApiError(401, "Unauthorized", violation=True)
        if method not in self.spec.methods:
            raise ApiError(404, "Not Found", violation=True)
        if errors := self.spec.check_call(method, params):
            raise ApiError(400, "Bad Request: " + "; ".join(errors), violation=True)
        if self.flood is not None and method.startswith(FLOOD_LIMITED):
            self.flood.admit(method, arrived)
        if self._delays[method]:
            await self._sleep(self._delays[method].pop(0))
        if self._failures[method]:
            raise self._failures[method].pop(0)
        if method.startswith(SENDING) and params.get("chat_id") in self.blocked:
            raise ApiError(403, FAILURE_TEXT[403])
        result = await self._get_updates(params) if method == "getUpdates" else self._handle(method, params)
        if errors := self.spec.check(result, self.spec.returns[method], "result"):
            self.violations.append(Violation(method, "the fake's answer breaks the spec: " + "; ".join(errors), params))
        if method != "getUpdates" and arrived < self._slow_until:
            await self._sleep(self._slow_answer)  # the call has taken effect; only its answer is late
        return result

    def _handle(self, method: str, params: Params) -> JSON:
        if method in self._handlers:
            return self._handlers[method](params)
        if self.spec.returns[method] == ("Boolean",):
            return True
        raise ApiError(400, f"fake does not implement {method}", violation=True)

    # getUpdates

    async def _get_updates(self, params: Params) -> list[Params]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._confirm(params.get("offset", 0))
        if "allowed_updates" in params:
            self._allowed = params["allowed_updates"]
        self._poll_generation += 1
        generation, limit = self._poll_generation, min(max(params.get("limit", 100), 1), 100)
        deadline = asyncio.get_running_loop().time() + min(params.get("timeout", 0), self.max_poll_timeout)
        while not (batch := self._deliverable()[:limit]) and not self._closing:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if (left := deadline - asyncio.get_running_loop().time()) <= 0:
                break
            await self._wait_change(left)
        return batch

    def _confirm(self, offset: int) -> None:
        """Drop updates below a positive offset; a negative one keeps only the last -offset updates."""
        if offset < 0:
            self._updates = self._updates[offset:]
            offset = self._updates[0]["update_id"] if self._updates else self._last_update_id + 1
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)

    def _deliverable(self) -> list[Params]:
        """Pending updates of allowed types; others are dropped, as Telegram would never have queued them."""
        allowed = set(self._allowed or []) or {f.name for f in self.spec.types["Update"].values()} - NOT_BY_DEFAULT
        self._updates = [u for u in self._updates if allowed & set(u)]
        return self._updates

    # messages

    def _remember(self, message: Params) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        self.messages[chat_id, message_id] = message
        self._message_ids[chat_id] = max(self._message_ids.get(chat_id, 0), message_id)

    def _chat_id(self, params: Params) -> int:
        chat_id = params["chat_id"]
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _send_message(self, params: Params) -> Params:
        chat_id = self._chat_id(params)
        message: Params = {"message_id": self.allocate_message_id(chat_id), "from": self.bot, "chat": chat(chat_id)}
        message |= {"date": now(), "text": params["text"]}
        if "entities" in params:
            message["entities"] = params["entities"]
        if "inline_keyboard" in (markup := params.get("reply_markup") or {}):
            message["reply_markup"] = markup  # other keyboards are not part of the Message
        reply_to = self.messages.get((chat_id, params.get("reply_parameters", {}).get("message_id", 0)))
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        self._remember(message)
        self._texts.append((chat_id, params["text"]))
        return message

    def _send_photo(self, params: Params) -> Params:
        """A photo uploaded with the call (a file id or URL is not taken here); like Telegram, a caption over
        CAPTION_LIMIT characters or a file that is no image is refused."""
        chat_id, photo, caption = self._chat_id(params), params["photo"], params.get("caption")
        if not isinstance(photo, Upload):
            raise ApiError(400, "Bad Request: the fake takes uploaded photos only", violation=True)
        if caption is not None and len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if (size := png_size(photo.data)) is None:
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        width, height = size
        file_id = f"photo-{len(self.photos) + 1}"
        sizes = [{"file_id": file_id, "file_unique_id": file_id, "width": width, "height": height}]
        message: Params = {"message_id": self.allocate_message_id(chat_id), "from": self.bot, "chat": chat(chat_id)}
        message |= {"date": now(), "photo": sizes} | ({"caption": caption} if caption is not None else {})
        self._remember(message)
        self.photos.append((chat_id, photo, caption))
        return message

    def _edit(self, params: Params, markup: Params | None, text: str | None = None) -> JSON:
        """Edit text and/or markup; like Telegram, omitting reply_markup removes the inline keyboard."""
        if "inline_message_id" in params:
            return True
        key = (params["chat_id"], params["message_id"])
        old = self.messages.get(key)
        if old is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if old.get("from", {}).get("id") != self.bot["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        if text is not None and "text" not in old:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        new = {k: v for k, v in old.items() if k != "reply_markup"} | ({"reply_markup": markup} if markup else {})
        if text is not None:
            new = {k: v for k, v in new.items() if k != "entities"} | {"text": text}
            new |= {"entities": params["entities"]} if "entities" in params else {}
        if (new.get("text"), new.get("reply_markup")) == (old.get("text"), old.get("reply_markup")):
            raise ApiError(400, NOT_MODIFIED)
        self.messages[key] = new | {"edit_date": now()}
        if text is not None:
            self._texts.append((key[0], text))
        return self.messages[key]

    def _answer_callback_query(self, params: Params) -> bool:
        if params["callback_query_id"] not in self._open_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(params["callback_query_id"])
        return True

    def _get_chat(self, params: Params) -> Params:
        gifts = dict.fromkeys(self.spec.types["AcceptedGiftTypes"], False)
        extra = {"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}
        return chat(self._chat_id(params)) | extra

    # webhook and commands

    def _set_webhook(self, params: Params) -> bool:
        self.webhook_url = params["url"]
        if "allowed_updates" in params:
            self._allowed = params["allowed_updates"]
        if params.get("drop_pending_updates"):
            self._updates = []
        return True

    def _webhook_info(self, params: Params) -> Params:
        info = {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        return info | ({"allowed_updates": self._allowed} if self._allowed is not None else {})

    def _set_my_commands(self, params: Params) -> bool:
        self.commands[_scope_key(params)] = params["commands"]
        return True


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG (from its IHDR chunk, whose CRC must hold); None for anything else."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    header = data[12:29]
    if zlib.crc32(header) != int.from_bytes(data[29:33], "big"):
        return None
    return int.from_bytes(header[4:8], "big"), int.from_bytes(header[8:12], "big")


def _scope_key(params: Params) -> str:
    return json.dumps([params.get("scope", {"type": "default"}), params.get("language_code", "")], sort_keys=True)


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A running FakeTelegram; the test fails at teardown while any API violation is recorded."""
    async with FakeTelegram() as fake:
        yield fake
    fake.assert_clean()
