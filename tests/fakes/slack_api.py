"""A loopback fake of the Slack Web API, so tests drive the real slack_sdk / bolt stack offline.

Point slack_sdk at it with `AsyncWebClient(token=fake.token, base_url=fake.base_url)` (bolt: pass that client to
`AsyncApp(client=..., signing_secret=...)`). Every call is checked by name against
tests/reference/specs/slack-web-api.openapi.json, and every Block Kit payload against slack_sdk.models; a wrong call is
answered like Slack (HTTP 200, `{"ok": false, "error": "unknown_method" | "invalid_arguments" | "invalid_blocks"}`)
and recorded in `fake.violations`, and the `fake_slack` fixture fails the test at teardown while any remain.
Load the fixture with `pytest_plugins = ["tests.fakes.slack_api"]` in the top-level conftest.py.

How slack_sdk sends (slack_sdk/web/async_client.py, internal_utils.py): chat.postMessage / update / postEphemeral
and views.* as a JSON body; most other methods as `params`, i.e. the query string, even for POST; bools as "1"/"0";
the token as `Authorization: Bearer`; and a client built with `team_id` (bolt's per-request client) adds `team_id`
to every call.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest_asyncio
from aiohttp import web
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes.base import FakeApi, Violation
from tests.fakes.slack_signing import (  # re-exported: the workspace the fake starts with
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    CHANNEL_NAME,
    TEAM_DOMAIN,
    TEAM_ID,
    USER_ID,
    USER_NAME,
    im_channel_id,
)

SPEC_PATH = Path(__file__).resolve().parents[1] / "reference" / "specs" / "slack-web-api.openapi.json"
TOKEN = "xoxb-111-222-fakeSlackBotToken"  # bolt treats only xoxb- tokens as bot tokens
SCOPES = "chat:write,commands,im:write,im:history,users:read,channels:read,groups:read,reactions:write,usergroups:read"

# Accepted although the 2020 spec does not declare them (each checked missing there):
EVERY_METHOD = frozenset({"team_id"})  # bolt's per-request AsyncWebClient(team_id=...) adds it to every call
NEWER_THAN_SPEC: Mapping[str, frozenset[str]] = {
    "chat.postMessage": frozenset({"metadata"}),  # message metadata (2021)
    "chat.update": frozenset({"metadata"}),
}
# Methods newer than the spec, with their arguments (allowed, required) as docs.slack.dev documents them: the file
# upload that replaced files.upload (2024), as slack_sdk's files_upload_v2 calls it.
NEWER_METHODS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "files.getUploadURLExternal": (
        frozenset({"filename", "length", "alt_txt", "snippet_type"}),
        frozenset({"filename", "length"}),
    ),
    "files.completeUploadExternal": (
        frozenset({"files", "channel_id", "channels", "initial_comment", "thread_ts", "blocks"}),
        frozenset({"files"}),
    ),
}
NEWER_METHOD_SCOPES: Mapping[str, frozenset[str]] = dict.fromkeys(NEWER_METHODS, frozenset({"files:write"}))
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
VIEW_KINDS: Mapping[str, str | None] = {
    "views.open": "modal",
    "views.push": "modal",
    "views.update": None,
    "views.publish": "home",
}
MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS, MAX_TEXT = 50, 100, 40_000
SERVER_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "request_timeout"}
_TS = re.compile(r"\d+\.\d{6}")

JSON = Any
Params = dict[str, JSON]


class Call(NamedTuple):
    """One request the fake received: method name, arguments (token removed), `time.monotonic()` of arrival."""

    method: str
    args: Params
    at: float


@dataclass
class UploadedFile:
    """A file of the upload API: announced (id, name, length), uploaded (data), then shared (channel, comment)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None


class SlackError(Exception):
    """An error answer as Slack sends it; a `violation` description also records it as a misuse of the API."""

    def __init__(
        self, error: str, *, status: int = 200, violation: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(error)
        self.error, self.status, self.violation, self.retry_after = error, status, violation, retry_after

    def response(self) -> web.Response:
        body: Params = {"ok": False, "error": self.error}
        if self.violation:
            body["response_metadata"] = {"messages": [f"[ERROR] {self.violation}"]}
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return web.json_response(body, status=self.status, headers=headers)


@dataclass(frozen=True)
class SlackSpec:
    """Method names with their declared argument names (wherever declared: header, query, form) and required ones."""

    allowed: Mapping[str, frozenset[str]]
    required: Mapping[str, frozenset[str]]

    @classmethod
    @cache
    def load(cls, path: Path = SPEC_PATH) -> SlackSpec:
        paths = json.loads(path.read_text())["paths"]
        params = {
            p.lstrip("/"): [x for op in ops.values() for x in op.get("parameters", [])] for p, ops in paths.items()
        }
        allowed = {
            m: frozenset(x["name"] for x in xs) | NEWER_THAN_SPEC.get(m, frozenset()) for m, xs in params.items()
        }
        required = {m: frozenset(x["name"] for x in xs if x.get("required")) - {"token"} for m, xs in params.items()}
        for method, (its_allowed, its_required) in NEWER_METHODS.items():
            allowed[method], required[method] = its_allowed, its_required
        return cls(allowed, required)

    def check(self, method: str, args: Mapping[str, JSON]) -> list[str]:
        """Missing required and unknown arguments of a call to a known method."""
        missing = sorted(self.required[method] - set(args))
        unknown = sorted(set(args) - self.allowed[method] - EVERY_METHOD)
        return [f"missing required field: {n}" for n in missing] + [f"unknown argument: {n}" for n in unknown]


# Block Kit


def block_errors(blocks: JSON, *, limit: int = MAX_MESSAGE_BLOCKS, path: str = "blocks") -> list[str]:
    """What Slack would reject in a list of blocks, as slack_sdk.models reads them (types, fields, limits)."""
    blocks = _decoded(blocks)
    if not isinstance(blocks, list):
        return [f"{path} must be an array of blocks"]
    errors = [f"{path}: more than {limit} blocks"] if len(blocks) > limit else []
    return errors + [e for i, block in enumerate(blocks) for e in _block_errors(block, f"{path}[{i}]")]


def view_errors(view: JSON, kind: str | None = None) -> list[str]:
    """What Slack would reject in a view (modal or home): its type, its blocks, then slack_sdk's View checks."""
    view = _decoded(view)
    if not isinstance(view, dict):
        return ["view must be an object"]
    if kind is not None and view.get("type") != kind:
        return [f"view.type must be {kind!r}, got {view.get('type')!r}"]
    if errors := block_errors(view.get("blocks", []), limit=MAX_VIEW_BLOCKS, path="view.blocks") + _modal_errors(view):
        return errors
    try:
        model = View(**view)
        model.validate_json()
        read = model.to_dict()
    except Exception as exc:
        return [f"view: {exc}"]
    difference = _difference(view, read, "view")
    return [difference] if difference else []


def _modal_errors(view: Params) -> list[str]:
    """Slack's rules for modals that slack_sdk does not check: a plain_text title, and submit with input blocks."""
    if view.get("type") != "modal":
        return []
    errors = [] if "title" in view else ["view.title is required for modals"]
    errors += [f"view.{k} must be plain_text" for k in ("title", "submit", "close") if _not_plain(view.get(k))]
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
    return errors + (["view.submit is required with input blocks"] if has_input and "submit" not in view else [])


def _not_plain(text: JSON) -> bool:
    return isinstance(text, dict) and text.get("type") != "plain_text"


def _decoded(value: JSON) -> JSON:
    """Form-encoded calls carry blocks and views as JSON strings."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _block_errors(block: JSON, path: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"{path} must be an object"]
    try:
        parsed = Block.parse(block)  # a block missing a required field raises TypeError
        if parsed is None:
            return [f"{path}: unknown block type {block.get('type')!r}"]
        parsed.validate_json()
        read = parsed.to_dict()
    except Exception as exc:
        return [f"{path} ({block.get('type')}): {exc}"]
    difference = _difference(block, read, path)
    return [difference] if difference else []


def _difference(sent: JSON, read: JSON, path: str) -> str | None:
    """The first place where slack_sdk reads a payload differently: unknown keys or element types, wrong shapes.

    slack_sdk's parsers silently drop what they do not know, so `to_dict()` after parsing shows what they ignored.
    """
    if isinstance(sent, dict) and isinstance(read, dict):
        if unknown := [k for k in sent if k not in read]:
            return f"{path}: unknown field(s) {', '.join(unknown)}"
        return next((d for k in sent if (d := _difference(sent[k], read[k], f"{path}.{k}"))), None)
    if isinstance(sent, list) and isinstance(read, list) and len(sent) == len(read):
        pairs = enumerate(zip(sent, read, strict=True))
        return next((d for i, (s, r) in pairs if (d := _difference(s, r, f"{path}[{i}]"))), None)
    if read is None and isinstance(sent, dict):
        return f"{path}: unknown element type {sent.get('type')!r}"
    return None if sent == read else f"{path}: sent {sent!r}, Slack expects {read!r}"


# objects


def user_object(user_id: str, name: str, **extra: JSON) -> Params:
    """A users.info `user` object."""
    real_name = extra.pop("real_name", name.replace("-", " ").title())
    profile = {"real_name": real_name, "display_name": name, "first_name": real_name.split()[0]}
    profile |= {"email": extra.pop("email")} if "email" in extra else {}
    tz = {"tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0}
    flags = {"is_admin": False, "is_owner": False, "is_bot": False, "is_app_user": False}
    head = {"id": user_id, "team_id": TEAM_ID, "name": name, "deleted": False, "real_name": real_name}
    return head | tz | flags | {"updated": int(time.time()), "profile": profile} | extra


def channel_object(channel_id: str, name: str, *, private: bool = False, user: str | None = None) -> Params:
    """A conversations.info `channel` object: an IM when `user` is given, else a public or private channel."""
    base = {"id": channel_id, "created": int(time.time()), "is_archived": False, "is_org_shared": False}
    if user is not None:
        return base | {"is_im": True, "user": user, "is_user_deleted": False, "priority": 0}
    kinds = {"is_channel": not private, "is_group": False, "is_im": False, "is_mpim": False, "is_private": private}
    return base | {"name": name, "name_normalized": name, "creator": USER_ID, "is_general": False} | kinds


class FakeSlack(FakeApi):
    """The fake Web API server with its recorded calls, workspace state and injected failures.

    The workspace starts with the bot user, the samples' user W111 and channel C111 (bot and W111 are members).
    """

    api_name = "the Slack Web API"

    def __init__(self, token: str = TOKEN, *, spec: SlackSpec | None = None) -> None:
        super().__init__()
        self.token = token
        self.spec = spec or SlackSpec.load()
        self.calls: list[Call] = []
        self.users: dict[str, Params] = {}
        self.channels: dict[str, Params] = {}
        self.members: dict[str, list[str]] = {}
        self.usergroups: dict[str, list[str]] = {}  # user group id -> its users
        self.ephemeral: list[tuple[str, str, Params]] = []  # (channel, user, message)
        self.reactions: list[tuple[str, str, str]] = []  # (channel, ts, name)
        self.views: dict[str, Params] = {}  # every modal and home view by id
        self.homes: dict[str, str] = {}  # user id -> id of the published home view
        self.responses: list[tuple[str, Params]] = []  # (key, body) posted to `response_url(key)`
        self.files: dict[str, UploadedFile] = {}  # by file id, from files.getUploadURLExternal on
        self.base_url = self._root = ""
        self._messages: dict[str, dict[str, Params]] = defaultdict(dict)  # channel -> ts -> message
        self._used_triggers: set[str] = set()
        self._last_us = 0
        self._ids = itertools.count(1)
        self._failures: defaultdict[str, list[SlackError]] = defaultdict(list)
        self._failing_uploads = 0
        self._delays: defaultdict[str, list[float]] = defaultdict(list)
        self._handlers: dict[str, Callable[[Params], Params]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.open": self._open_conversation,
            "conversations.members": self._channel_members,
            "usergroups.users.list": self._usergroup_users,
            "conversations.info": lambda a: {"channel": self._channel_info(a)},
            "users.info": lambda a: {"user": self._user(a.get("user"))},
            "views.open": lambda a: self._new_view(a, trigger=True),
            "views.push": lambda a: self._new_view(a, trigger=True),
            "views.update": self._update_view,
            "views.publish": self._publish,
            "reactions.add": self._react,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self.add_user(BOT_USER_ID, "feedbackbot", is_bot=True)
        self.add_user(USER_ID, USER_NAME)
        self.add_channel(CHANNEL_ID, CHANNEL_NAME, members=[USER_ID])

    # lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._serve)
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_post("/upload/{file_id}", self._receive_upload)
        self._root = await self._listen(app)
        self.base_url = f"{self._root}/api/"
        return self

    # test controls: workspace

    def add_user(self, user_id: str, name: str | None = None, **extra: JSON) -> Params:
        """Make `user_id` known to users.info / conversations.open (extra: real_name, email, tz, is_admin, ...)."""
        self.users[user_id] = user_object(user_id, name or user_id.lower(), **extra)
        return self.users[user_id]

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        members: Iterable[str] = (),
        private: bool = False,
        bot_member: bool = True,
    ) -> Params:
        """A channel with `members` (user ids); without `bot_member` posting there answers not_in_channel."""
        self.channels[channel_id] = channel_object(channel_id, name or channel_id.lower(), private=private)
        self.members[channel_id] = [BOT_USER_ID] * bot_member + list(members)
        return self.channels[channel_id]

    def add_usergroup(self, usergroup_id: str, users: Iterable[str]) -> None:
        """A user group ("S…") with these users, for usergroups.users.list."""
        self.usergroups[usergroup_id] = list(users)

    def im_channel(self, user_id: str) -> str:
        """The id of the app's DM with a known user, opening it like conversations.open."""
        channel_id = im_channel_id(user_id)
        if channel_id not in self.channels:
            self._user(user_id)
            self.channels[channel_id] = channel_object(channel_id, "", user=user_id)
            self.members[channel_id] = [user_id, BOT_USER_ID]
        return channel_id

    def response_url(self, key: str = "response") -> str:
        """A response_url for inbound payloads: what bolt's respond() posts there lands in `responded(key)`."""
        return f"{self._root}/respond/{key}"

    # test controls: failures

    def fail(
        self, method: str, error: str | None = None, *, status: int | None = None, retry_after: int = 1, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with an error.

        fail(m) -> 429 "ratelimited" with Retry-After; fail(m, "channel_not_found") -> HTTP 200 with that error;
        fail(m, status=503) -> 503 "service_unavailable".
        """
        status = status or (200 if error not in (None, "ratelimited") else 429)
        error = error or SERVER_ERRORS.get(status, "ratelimited")
        failure = SlackError(error, status=status, retry_after=retry_after if status == 429 else None)
        self._failures[method] += [failure] * times

    def fail_uploads(self, times: int = 1) -> None:
        """Answer the next `times` posts to an upload URL with 500, as Slack's file service does when it is down."""
        self._failing_uploads += times

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before handling them (they still take effect)."""
        self._delays[method] += [seconds] * times

    # inspection

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[Params]:
        """Current state of the bot's messages in a channel (or the DM with a user id), oldest first."""
        channel = im_channel_id(channel) if channel in self.users else channel
        return [self._messages[channel][ts] for ts in sorted(self._messages[channel], key=float)]

    def last_message(self, channel: str) -> Params:
        if not (messages := self.messages(channel)):
            raise LookupError(f"the bot posted nothing in {channel}")
        return messages[-1]

    def published_home(self, user_id: str) -> Params:
        """The Home view last published for a user."""
        if user_id not in self.homes:
            raise LookupError(f"no Home view was published for {user_id}")
        return self.views[self.homes[user_id]]

    def responded(self, key: str = "response") -> list[Params]:
        """Bodies posted to `response_url(key)`, in order."""
        return [body for k, body in self.responses if k == key]

    # HTTP

    async def _serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await self._read_args(request)
        except ValueError as exc:
            return self._refuse(method, {}, SlackError("invalid_form_data", violation=f"unreadable request: {exc}"))
        token = self._token(request, args)
        self.calls.append(Call(method, args, time.monotonic()))
        try:
            result = await self._answer(token, method, args)
        except SlackError as error:
            return self._refuse(method, args, error)
        except Exception as exc:  # a call the fake cannot digest fails the test instead of hanging in aiohttp's log
            return self._refuse(
                method, args, SlackError("fake_crashed", status=500, violation=f"fake crashed: {exc!r}")
            )
        finally:
            self._pulse()
        return web.json_response({"ok": True, **result}, headers={"X-OAuth-Scopes": SCOPES})

    async def _read_args(self, request: web.Request) -> Params:
        """Query string, then the body: JSON (chat.*, views.*) or form-encoded."""
        args: Params = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body must be an object")
            return args | body
        form = await request.post()
        return args | {k: v if isinstance(v, str) else getattr(v, "filename", str(v)) for k, v in form.items()}

    @staticmethod
    def _token(request: web.Request, args: Params) -> str | None:
        """The token from `Authorization: Bearer` or a `token` argument (removed from args)."""
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        from_args = args.pop("token", None)
        return credentials if scheme == "Bearer" else from_args

    def _refuse(self, method: str, args: Params, error: SlackError) -> web.Response:
        if error.violation:
            self.violations.append(Violation(method, error.violation, args))
        return error.response()

    async def _answer(self, token: str | None, method: str, args: Params) -> Params:
        if method not in self.spec.allowed:
            raise SlackError("unknown_method", violation=f"unknown method {method}")
        if not token:
            raise SlackError("not_authed", violation="no token: neither Authorization: Bearer nor a token argument")
        if token != self.token:
            raise SlackError("invalid_auth", violation=f"wrong token {token!r}")
        if errors := self.spec.check(method, args):
            raise SlackError("invalid_arguments", violation="; ".join(errors))
        self._check_payloads(method, args)
        if self._delays[method]:
            await self._sleep(self._delays[method].pop(0))
        if self._failures[method]:
            raise self._failures[method].pop(0)
        if method not in self._handlers:
            raise SlackError("fake_not_implemented", violation=f"fake does not implement {method}")
        return self._handlers[method](args)

    def _check_payloads(self, method: str, args: Params) -> None:
        """Block Kit of messages and views; message text and length."""
        if method in MESSAGE_METHODS:
            if errors := block_errors(args.get("blocks", [])):
                raise SlackError("invalid_blocks", violation="; ".join(errors))
            if method != "chat.update" and not any(args.get(k) for k in ("text", "blocks", "attachments")):
                raise SlackError("no_text", violation="a message needs text, blocks or attachments")
            if len(str(args.get("text", ""))) > MAX_TEXT:
                raise SlackError("msg_too_long", violation=f"text longer than {MAX_TEXT} characters")
        if method in VIEW_KINDS and "view" in args and (errors := view_errors(args["view"], VIEW_KINDS[method])):
            raise SlackError("invalid_arguments", violation="; ".join(errors))

    async def _respond(self, request: web.Request) -> web.Response:
        """A response_url: records the body (bolt's respond()), checks its blocks, answers "ok" like Slack."""
        try:
            body = await request.json()
        except ValueError:
            body = {"unreadable": await request.text()}
        self.responses.append((request.match_info["key"], body))
        if not isinstance(body, dict) or "unreadable" in body:
            self.violations.append(Violation("response_url", "the body must be a JSON object", {"body": body}))
        elif errors := block_errors(body.get("blocks", [])):
            self.violations.append(Violation("response_url", "; ".join(errors), body))
        self._pulse()
        return web.Response(text="ok")

    async def _receive_upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal handed out: the raw bytes, or a multipart form with the file.
        Slack answers 200 with "OK - <length>"; the length must be the one announced."""
        upload = self.files.get(request.match_info["file_id"])
        data = await request.read()
        if request.content_type == "multipart/form-data":
            data = next((v.file.read() for v in (await request.post()).values() if isinstance(v, web.FileField)), b"")
        if upload is None:
            return web.Response(status=404, text="upload URL unknown or expired")
        if self._failing_uploads:
            self._failing_uploads -= 1
            return web.Response(status=500, text="internal error")
        if len(data) != upload.length:
            self.violations.append(Violation("file upload", f"{len(data)} bytes sent, {upload.length} announced", {}))
            return web.Response(status=400, text="length mismatch")
        upload.data = data
        self._pulse()
        return web.Response(text=f"OK - {len(data)}")

    # workspace lookups

    def _user(self, user_id: str | None) -> Params:
        if user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def _resolve(self, channel: str | None) -> str:
        """A channel id; a user id stands for the app's DM with that user (as chat.postMessage allows).

        The DM of every known user exists (as soon as a user writes to the app, Slack has it): D + user id.
        """
        if channel in self.users:
            return self.im_channel(channel)
        if channel not in self.channels and channel and channel.startswith("D") and channel[1:] in self.users:
            return self.im_channel(channel[1:])
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        return channel

    def _postable(self, channel: str | None) -> str:
        channel = self._resolve(channel)
        if BOT_USER_ID not in self.members[channel]:
            raise SlackError("not_in_channel")
        return channel

    def _message(self, channel: str, ts: str | None) -> Params:
        if ts not in self._messages[channel]:
            raise SlackError("message_not_found")
        return self._messages[channel][ts]

    def _next_ts(self) -> str:
        """Strictly increasing message timestamps, Slack's format (seconds.microseconds)."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    # methods: auth and chat

    def _auth_test(self, args: Params) -> Params:
        url = f"https://{TEAM_DOMAIN}.slack.com/"
        who = {"team": "Test Workspace", "user": "feedbackbot", "team_id": TEAM_ID, "user_id": BOT_USER_ID}
        return {"url": url, **who, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _post_message(self, args: Params) -> Params:
        channel = self._postable(args.get("channel"))
        message = self._bot_message(args) | {"ts": self._next_ts()}
        message |= {"thread_ts": args["thread_ts"]} if "thread_ts" in args else {}
        message |= {"metadata": _decoded(args["metadata"])} if "metadata" in args else {}
        self._messages[channel][message["ts"]] = message
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _bot_message(self, args: Params) -> Params:
        profile = {"id": BOT_ID, "app_id": APP_ID, "name": "feedbackbot", "team_id": TEAM_ID, "deleted": False}
        message = {"type": "message", "text": args.get("text", ""), "user": BOT_USER_ID, "bot_id": BOT_ID}
        message |= {"app_id": APP_ID, "team": TEAM_ID, "bot_profile": profile}
        return message | ({"blocks": _decoded(args["blocks"])} if args.get("blocks") else {})

    # methods: files

    def _upload_url(self, args: Params) -> Params:
        length = int(args["length"])
        if length <= 0:
            raise SlackError("missing_argument", violation="length must be the file's size in bytes")
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = UploadedFile(file_id, str(args["filename"]), length, alt_txt=args.get("alt_txt"))
        return {"upload_url": f"{self._root}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: Params) -> Params:
        """Shares the uploaded files in `channel_id` (if given) with `initial_comment` as the message's text."""
        entries = _decoded(args["files"])
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
            raise SlackError("invalid_arguments", violation="files must be a JSON array of {id, title}")
        uploads = [self.files.get(entry["id"]) for entry in entries]
        if any(upload is None or upload.data is None for upload in uploads):
            raise SlackError("file_not_found")
        shared = [upload for upload in uploads if upload is not None]
        for upload, entry in zip(shared, entries, strict=True):
            upload.title = entry.get("title") or upload.filename
        if "channel_id" in args:
            channel = self._postable(args["channel_id"])
            message = self._bot_message({"text": args.get("initial_comment", "")}) | {"ts": self._next_ts()}
            message["files"] = [{"id": upload.id, "name": upload.filename, "title": upload.title} for upload in shared]
            self._messages[channel][message["ts"]] = message
            for upload in shared:
                upload.channel, upload.initial_comment = channel, args.get("initial_comment")
        return {"files": [{"id": upload.id, "title": upload.title} for upload in shared]}

    def _update(self, args: Params) -> Params:
        """Replace text / blocks / metadata given; omitted ones are kept, `blocks: []` removes the blocks."""
        channel = self._resolve(args.get("channel"))
        old = self._message(channel, args.get("ts"))
        if old.get("user") != BOT_USER_ID:
            raise SlackError("cant_update_message")
        new = old | {k: _decoded(args[k]) for k in ("blocks", "metadata") if k in args}
        new |= {"text": args["text"]} if "text" in args else {}
        new = {k: v for k, v in new.items() if k != "blocks" or v}
        self._messages[channel][old["ts"]] = new | {"edited": {"user": BOT_USER_ID, "ts": self._next_ts()}}
        message = {k: v for k, v in new.items() if k not in ("ts", "bot_profile")}
        return {"channel": channel, "ts": old["ts"], "text": new.get("text", ""), "message": message}

    def _post_ephemeral(self, args: Params) -> Params:
        channel = self._postable(args.get("channel"))
        if args["user"] not in self.members[channel]:
            raise SlackError("user_not_in_channel")
        message = self._bot_message(args) | {"ts": self._next_ts()}
        self.ephemeral.append((channel, args["user"], message))
        return {"message_ts": message["ts"]}

    def _permalink(self, args: Params) -> Params:
        """Any well-formed ts of a known channel: the fake does not know the users' messages."""
        channel, ts = self._resolve(args.get("channel")), str(args.get("message_ts"))
        if not _TS.fullmatch(ts):
            raise SlackError("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _react(self, args: Params) -> Params:
        channel, ts, name = self._resolve(args.get("channel")), str(args["timestamp"]), str(args["name"])
        if not _TS.fullmatch(ts):
            raise SlackError("message_not_found")
        if (channel, ts, name) in self.reactions:
            raise SlackError("already_reacted")
        self.reactions.append((channel, ts, name))
        return {}

    # methods: conversations

    def _open_conversation(self, args: Params) -> Params:
        """One user: the app's DM (D + user id); several: a group DM. `channel`: resume a known conversation."""
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users and "channel" not in args:
            raise SlackError("users_list_not_supplied")
        existed = args.get("channel") in self.channels or (len(users) == 1 and im_channel_id(users[0]) in self.channels)
        if "channel" in args:
            channel = self._resolve(args["channel"])
        else:
            channel = self.im_channel(users[0]) if len(users) == 1 else self._group_dm(users)
        full = str(args.get("return_im", "")).lower() in ("1", "true")
        info = self.channels[channel] if full else {"id": channel}
        return {"channel": info} | ({"no_op": True, "already_open": True} if existed else {})

    def _group_dm(self, users: list[str]) -> str:
        for user in users:
            self._user(user)
        channel_id = "G" + "".join(sorted(u[1:] for u in users))
        name = "mpdm-" + "--".join(sorted(u.lower() for u in users)) + "-1"
        self.channels[channel_id] = channel_object(channel_id, name, private=True) | {"is_mpim": True}
        self.members[channel_id] = [BOT_USER_ID, *users]
        return channel_id

    def _channel_members(self, args: Params) -> Params:
        """Paginated like Slack: limit (default 100) and an opaque cursor."""
        members = self.members[self._resolve(args.get("channel"))]
        try:
            start = int(base64.b64decode(args["cursor"]).decode().removeprefix("offset:")) if args.get("cursor") else 0
        except ValueError:
            raise SlackError("invalid_cursor") from None
        end = start + int(args.get("limit") or 100)
        cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(members) else ""
        return {"members": members[start:end], "response_metadata": {"next_cursor": cursor}}

    def _usergroup_users(self, args: Params) -> Params:
        """Not paginated on Slack either: the whole group at once."""
        users = self.usergroups.get(str(args.get("usergroup")))
        if users is None:
            raise SlackError("no_such_subteam")
        return {"users": users}

    def _channel_info(self, args: Params) -> Params:
        channel = self._resolve(args.get("channel"))
        info = self.channels[channel] | {"is_member": BOT_USER_ID in self.members[channel]}
        wants_count = str(args.get("include_num_members", "")).lower() in ("1", "true")
        return info | ({"num_members": len(self.members[channel])} if wants_count else {})

    # methods: views

    def _new_view(self, args: Params, *, trigger: bool) -> Params:
        """views.open / views.push: each trigger_id works once."""
        if trigger:
            if args["trigger_id"] in self._used_triggers:
                raise SlackError("exchanged_trigger_id")
            self._used_triggers.add(args["trigger_id"])
        view_id = f"V{next(self._ids):08d}"
        return {"view": self._store_view(view_id, _decoded(args["view"]), root=view_id)}

    def _store_view(self, view_id: str, view: Params, *, root: str) -> Params:
        state = {"state": {"values": {}}, "hash": f"{int(time.time())}.{next(self._ids):08x}"}
        ids = {"id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID, "app_installed_team_id": TEAM_ID}
        defaults: Params = {"private_metadata": "", "callback_id": "", "external_id": "", "blocks": []}
        defaults |= {"clear_on_close": False, "notify_on_close": False, "previous_view_id": None, "root_view_id": root}
        self.views[view_id] = defaults | view | ids | state
        return self.views[view_id]

    def _update_view(self, args: Params) -> Params:
        """By view_id or external_id; a `hash` must match the current one (else hash_conflict)."""
        if not ("view_id" in args or "external_id" in args):
            raise SlackError("invalid_arguments", violation="views.update needs view_id or external_id")
        if "view" not in args:
            raise SlackError("invalid_arguments", violation="views.update needs a view")
        external = args.get("external_id")
        by_external = (v for v in self.views.values() if external and v["external_id"] == external)
        old = self.views.get(args.get("view_id", "")) or next(by_external, None)
        if old is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != old["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._store_view(old["id"], _decoded(args["view"]), root=old["root_view_id"])}

    def _publish(self, args: Params) -> Params:
        user_id = str(args["user_id"])
        self._user(user_id)
        old = self.views.get(self.homes.get(user_id, ""))
        if old is not None and args.get("hash") and args["hash"] != old["hash"]:
            raise SlackError("hash_conflict")
        view_id = old["id"] if old is not None else f"V{next(self._ids):08d}"
        self.homes[user_id] = view_id
        return {"view": self._store_view(view_id, _decoded(args["view"]), root=view_id)}


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A running FakeSlack; the test fails at teardown while any API violation is recorded."""
    async with FakeSlack() as fake:
        yield fake
    fake.assert_clean()
