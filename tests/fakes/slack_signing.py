"""Signed inbound Slack requests (slash commands, interactivity, Events API) for driving the real bolt app.

Bodies start from the samples in tests/reference/samples/slack (bolt-python's scenario tests and Slack's documentation),
with the workspace below: the bot's own ids match the fake Web API (`tests.fakes.slack_api`), and its default user
and channel exist there. Each builder returns an `Inbound` (raw body + content type); `inbound.headers(secret)` signs
it for now, as Slack does:

    request = slash_command("/feedback", "the app crashed")
    await http.post("/slack/events", content=request.body, headers=request.headers(SIGNING_SECRET))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

SAMPLES = Path(__file__).resolve().parents[1] / "reference" / "samples" / "slack"
FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
SIGNING_SECRET = "fake-slack-signing-secret"

# The workspace of the samples (bolt-python's T111 / W111 / C111), plus the bot user the fake Web API answers as.
TEAM_ID, TEAM_DOMAIN, APP_ID = "T111", "workspace-domain", "A111"
BOT_USER_ID, BOT_ID = "U0FAKEBOT", "B111"
USER_ID, USER_NAME = "W111", "primary-owner"
CHANNEL_ID, CHANNEL_NAME = "C111", "test-channel"
# respond() must never reach hooks.slack.com: pass `response_url=fake_slack.response_url(...)` to record replies.
NO_RESPONSE_URL = "http://127.0.0.1:9/no-response-url"  # port 9 (discard): connection refused at once

Params = dict[str, Any]


class Inbound(NamedTuple):
    """A request body as Slack posts it to the app, with its content type."""

    body: str
    content_type: str

    def headers(
        self,
        secret: str = SIGNING_SECRET,
        *,
        timestamp: int | None = None,
        retry: int = 0,
        reason: str = "http_timeout",
    ) -> dict[str, str]:
        """Content-Type and signature (timestamp: now); `retry` > 0 adds Slack's retry headers."""
        signed = sign(self.body, secret, int(time.time()) if timestamp is None else timestamp)
        return {"Content-Type": self.content_type, **signed, **(retry_headers(retry, reason) if retry else {})}

    @property
    def payload(self) -> Params:
        """The body as bolt parses it (JSON, the `payload=` form field, or the plain form)."""
        if self.content_type == JSON_TYPE:
            return dict(json.loads(self.body))
        form = dict(parse_qsl(self.body, keep_blank_values=True))
        return dict(json.loads(form["payload"])) if "payload" in form else form


def sign(body: str | bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), b"v0:%d:%s" % (timestamp, raw), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def retry_headers(num: int = 1, reason: str = "http_timeout") -> dict[str, str]:
    """Headers of Slack's redelivery of an event the app did not acknowledge in time (reason: http_timeout, ...)."""
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def new_ts() -> str:
    """A message timestamp in Slack's format (seconds.microseconds)."""
    return f"{time.time():.6f}"


def im_channel_id(user_id: str) -> str:
    """The id of the app's DM with a user, in the fake Web API and in these builders."""
    return f"D{user_id}"


def new_trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


@cache
def _sample_text(name: str) -> str:
    return (SAMPLES / name).read_text()


def _sample(name: str) -> Params:
    """A fresh copy of a JSON sample."""
    return dict(json.loads(_sample_text(name)))


def _user(user_id: str) -> Params:
    return {"id": user_id, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM_ID}


def _team() -> Params:
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def _interactive(payload: Params) -> Inbound:
    return Inbound(urlencode({"payload": json.dumps(payload)}), FORM)


# slash commands and interactivity


def slash_command(
    command: str,
    text: str = "",
    *,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    channel_name: str = CHANNEL_NAME,
    response_url: str = NO_RESPONSE_URL,
    trigger_id: str | None = None,
) -> Inbound:
    """A slash command form body (bolt_slash_command.form.txt, without the Enterprise Grid fields)."""
    form = {k: v for k, v in parse_qsl(_sample_text("bolt_slash_command.form.txt")) if not k.startswith("enterprise")}
    form |= {"team_id": TEAM_ID, "team_domain": TEAM_DOMAIN, "channel_id": channel_id, "channel_name": channel_name}
    form |= {"user_id": user_id, "command": command, "text": text, "api_app_id": APP_ID}
    form |= {"is_enterprise_install": "false", "response_url": response_url}
    form |= {"trigger_id": trigger_id or new_trigger_id()}
    return Inbound(urlencode(form), FORM)


def action(action_id: str, value: str, *, block_id: str = "b", action_type: str = "button") -> Params:
    """One element of `actions`: a button's `value`, or the `selected_option` of a select / radio_buttons."""
    base = {"action_id": action_id, "block_id": block_id, "type": action_type, "action_ts": new_ts()}
    if action_type == "button":
        return base | {"value": value, "text": {"type": "plain_text", "text": value, "emoji": True}}
    return base | {"selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def block_actions(
    action_id: str,
    value: str,
    *,
    block_id: str = "b",
    action_type: str = "button",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message: Mapping[str, Any] | None = None,
    response_url: str = NO_RESPONSE_URL,
    trigger_id: str | None = None,
) -> Inbound:
    """A click on a message's interactive element (bolt_block_actions.json); `message` is the clicked message."""
    payload = _sample("bolt_block_actions.json") | {"user": _user(user_id), "team": _team(), "api_app_id": APP_ID}
    message_ts = str((message or {}).get("ts", new_ts()))
    payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel_id}
    payload["container"] |= {"is_ephemeral": False}
    payload |= {"channel": {"id": channel_id, "name": CHANNEL_NAME if channel_id == CHANNEL_ID else "directmessage"}}
    payload |= {"response_url": response_url, "trigger_id": trigger_id or new_trigger_id(), "state": {"values": {}}}
    payload["actions"] = [action(action_id, value, block_id=block_id, action_type=action_type)]
    return _interactive(payload | ({"message": dict(message)} if message is not None else {}))


def view_submission(
    callback_id: str,
    values: Mapping[str, Mapping[str, Params]],
    *,
    private_metadata: str = "",
    view_id: str = "V111",
    blocks: list[Params] | None = None,
    user_id: str = USER_ID,
    trigger_id: str | None = None,
) -> Inbound:
    """A modal's submission (bolt_view_submission.json); `values` is state.values: {block_id: {action_id: {...}}}."""
    payload = _sample("bolt_view_submission.json") | {"user": _user(user_id), "team": _team(), "api_app_id": APP_ID}
    view = payload["view"] | {"id": view_id, "root_view_id": view_id, "team_id": TEAM_ID, "app_id": APP_ID}
    view |= {"callback_id": callback_id, "private_metadata": private_metadata, "state": {"values": dict(values)}}
    view |= {"bot_id": BOT_ID, "app_installed_team_id": TEAM_ID, "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}"}
    view |= {"blocks": blocks} if blocks is not None else {}
    return _interactive(payload | {"view": view, "trigger_id": trigger_id or new_trigger_id()})


def text_value(text: str, kind: str = "plain_text_input") -> Params:
    """One entry of a view's state.values for a text input."""
    return {"type": kind, "value": text}


# Events API


def event_callback(event: Mapping[str, Any], *, event_id: str | None = None, event_time: int | None = None) -> Inbound:
    """The Events API envelope (official_message_im.json) around `event`, authorised for the bot user."""
    envelope = _sample("official_message_im.json") | {"team_id": TEAM_ID, "api_app_id": APP_ID, "event": dict(event)}
    envelope["authorizations"] = [
        {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
    ]
    envelope |= {"authed_users": [BOT_USER_ID], "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"}
    envelope |= {"event_time": int(time.time()) if event_time is None else event_time}
    return Inbound(json.dumps(envelope), JSON_TYPE)


def message_im(text: str, *, user_id: str = USER_ID, channel_id: str | None = None, ts: str | None = None) -> Params:
    """A message.im event (a user writes in the app's DM; the DM id defaults to the fake's, "D" + user id)."""
    ts = ts or new_ts()
    event: Params = _sample("official_message_im.json")["event"]
    return event | {
        "user": user_id,
        "text": text,
        "channel": channel_id or im_channel_id(user_id),
        "ts": ts,
        "event_ts": ts,
    }


def app_home_opened(user_id: str = USER_ID, *, tab: str = "home", view: Params | None = None) -> Params:
    """An app_home_opened event; `view` is the Home view published before, if any."""
    event = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": im_channel_id(user_id),
        "tab": tab,
        "event_ts": new_ts(),
    }
    return event | ({"view": view} if view is not None else {})


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> Inbound:
    return Inbound(json.dumps(_sample("official_url_verification.json") | {"challenge": challenge}), JSON_TYPE)
