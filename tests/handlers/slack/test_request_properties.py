"""Properties of POST /slack/events: whatever the body, signed for real or not, never a 5xx, a row or a log flood."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.db import Database
from tests.fakes.slack_signing import (
    FORM,
    JSON_TYPE,
    Inbound,
    app_home_opened,
    block_actions,
    event_callback,
    message_im,
    slash_command,
    url_verification,
    view_submission,
)
from tests.handlers.slack.conftest import STAFF, SlackWorkspace, bot_lines, post_signed_quietly

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONTENT_TYPES = st.sampled_from([FORM, JSON_TYPE, "text/plain", "application/json; charset=utf-8"])
KINDS = ["block_actions", "view_submission", "event_callback", "url_verification", "view_closed", "shortcut"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
# Objects that look like Slack's: a kind this app knows, then anything in the fields its listeners read.
slack_like = st.fixed_dictionaries(
    {"type": st.sampled_from(KINDS)},
    optional={
        key: json_values
        for key in ("user", "actions", "view", "event", "event_id", "trigger_id", "channel", "container", "command")
    },
)
json_bodies = (json_values | slack_like).map(lambda value: json.dumps(value).encode())
form_bodies = st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=5).map(
    lambda form: urlencode(form).encode()
) | (json_values | slack_like).map(lambda value: urlencode({"payload": json.dumps(value)}).encode())
bodies = st.binary(max_size=300) | json_bodies | form_bodies


@given(body=bodies, content_type=CONTENT_TYPES)
@PROPERTY
async def test_any_signed_body_gets_no_5xx_no_row_and_at_most_one_line(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    assert await post_signed_quietly(slack, database, caplog, body, content_type) < 500


@given(body=bodies, content_type=CONTENT_TYPES, signature=st.none() | st.text(alphabet="v0=abcdef0123456789"))
@PROPERTY
async def test_any_unsigned_body_is_refused_unread_with_one_line(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str, signature: str | None
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": "1700000000"}
    headers |= {"X-Slack-Signature": signature} if signature is not None else {}
    response = await slack.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    assert len(bot_lines(caplog, logging.DEBUG)) == 1


# Real requests of every surface; each example breaks one of them in one place.
DM = "DW111"
VALID: list[Callable[[], Inbound]] = [
    lambda: block_actions("survey_start_0", "csat", channel_id=DM),
    lambda: block_actions("survey_answer_0", "1|satisfaction|4", channel_id=DM),
    lambda: block_actions("case_acknowledge", "1", user_id=STAFF),
    lambda: block_actions("case_assign", STAFF, block_id="case-1", action_type="users_select", user_id=STAFF),
    lambda: block_actions("case_outcome_yes", "1", channel_id=DM),
    lambda: view_submission("feedback_form", {}, private_metadata="internal-service"),
    lambda: view_submission("case_resolve_form", {}, private_metadata="1", user_id=STAFF),
    lambda: event_callback(message_im("The printer is broken")),
    lambda: event_callback(app_home_opened()),
    lambda: slash_command("/feedback", "it-helpdesk"),
    lambda: url_verification(),
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def encoded(inbound: Inbound, payload: Any) -> bytes:
    if inbound.content_type == JSON_TYPE:
        return json.dumps(payload).encode()
    if "payload=" in inbound.body:
        return urlencode({"payload": json.dumps(payload)}).encode()
    form = {key: value if isinstance(value, str) else json.dumps(value) for key, value in payload.items()}
    return urlencode(form).encode()


@st.composite
def broken_requests(draw: st.DrawFn) -> tuple[bytes, str]:
    inbound = draw(st.sampled_from(VALID))()
    payload = inbound.payload
    path = draw(st.sampled_from(paths(payload)[1:]))
    return encoded(inbound, replaced(payload, path, draw(json_values))), inbound.content_type


@given(request=broken_requests())
@PROPERTY
async def test_a_real_request_broken_in_one_place_gets_no_5xx(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, request: tuple[bytes, str]
) -> None:
    caplog.clear()
    body, content_type = request
    response = await slack.post_signed(body, content_type)
    await slack.idle()
    assert response.status_code < 500
    assert not any(record.exc_info for record in bot_lines(caplog, logging.INFO))
