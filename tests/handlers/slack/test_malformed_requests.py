"""POST /slack/events with what Slack never sends: refused before parsing when unsigned, 4xx when signed, one line."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest

from storage.db import Database
from tests.fakes.slack_signing import (
    FORM,
    JSON_TYPE,
    Inbound,
    block_actions,
    event_callback,
    message_im,
    slash_command,
)
from tests.handlers.slack.conftest import STAFF, SlackWorkspace, bot_lines, post_signed_quietly

DEEP = b"[" * 100_000 + b"]" * 100_000


def interactive(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def edited(inbound: Inbound, *fields: str) -> bytes:
    """The interactive payload of `inbound` without the given fields (of the payload, or of its first action)."""
    payload = inbound.payload
    for field in fields:
        payload.pop(field, None)
        payload["actions"][0].pop(field, None)
    return interactive(payload)


MALFORMED = {
    "json null": (b"null", JSON_TYPE),
    "json list": (b"[]", JSON_TYPE),
    "json string": (b'"hello"', JSON_TYPE),
    "json number": (b"42", JSON_TYPE),
    "json true": (b"true", JSON_TYPE),
    "not json": (b"{not json", JSON_TYPE),
    "deep nesting": (DEEP, JSON_TYPE),
    "bad form encoding": (b"payload=%7B%22type%22%3A%ZZ", FORM),
    "payload not json": (b"payload=hello", FORM),
    "payload not an object": (interactive([1, 2]), FORM),
    "missing type": (interactive({"user": {"id": "W1"}}), FORM),
    "unknown type": (interactive({"type": "no_such_thing"}), FORM),
    "actions empty": (interactive({"type": "block_actions", "user": {"id": "W1"}, "actions": []}), FORM),
    "user id not a string": (
        interactive({"type": "block_actions", "user": {"id": ["W1"]}, "actions": [{"action_id": "a"}]}),
        FORM,
    ),
    "event not an object": (
        json.dumps({"type": "event_callback", "event_id": "Ev1", "event": "x"}).encode(),
        JSON_TYPE,
    ),
    "command text not a string": (json.dumps({"command": "/feedback", "user_id": "W1", "text": 5}).encode(), JSON_TYPE),
    "view values not objects": (
        interactive({"type": "view_submission", "user": {"id": "W1"}, "view": {"callback_id": "f", "state": 1}}),
        FORM,
    ),
}


async def assert_refused_quietly(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    assert 400 <= await post_signed_quietly(slack, database, caplog, body, content_type) < 500


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_signed_malformed_request_gets_a_4xx_and_one_line(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    await assert_refused_quietly(slack, database, caplog, body, content_type)
    assert "malformed" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        edited(block_actions("survey_answer_0", "1|satisfaction|4"), "trigger_id", "action_ts"),
        interactive(block_actions("case_acknowledge", "first", user_id=STAFF).payload),
    ],
    ids=["an answer without trigger_id or action_ts", "a case number that is not a number"],
)
async def test_a_payload_a_listener_cannot_read_gets_a_4xx_and_one_line(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    await assert_refused_quietly(slack, database, caplog, body, FORM)


async def test_a_dm_message_without_its_timestamp_stores_nothing(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    event = {key: value for key, value in message_im("The printer is broken").items() if key != "ts"}
    await assert_refused_quietly(slack, database, caplog, event_callback(event).body.encode(), JSON_TYPE)


@pytest.mark.parametrize(
    ("body", "timestamp"),
    [(interactive({"type": "block_actions"}), "soon"), (b"payload=\xff\xfe", None)],
    ids=["a timestamp that is not a number", "a body that is not UTF-8"],
)
async def test_what_the_signature_check_cannot_read_is_refused_as_unsigned(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, body: bytes, timestamp: str | None
) -> None:
    """slack_sdk's verifier needs both as text and a number: Slack sends nothing else."""
    response = await slack.post_signed(body, FORM, timestamp=timestamp)
    assert response.status_code == 401
    assert "refused a request with a missing, wrong or stale signature" in caplog.text


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_an_unsigned_malformed_request_is_refused_before_it_is_read(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await slack.client.post("/slack/events", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 401
    [line] = bot_lines(caplog, logging.DEBUG)  # the refusal: no parsing, no traceback
    assert line.getMessage() == "slack: refused a request with a missing, wrong or stale signature"


async def test_a_request_no_listener_takes_gets_one_short_line(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    response = await slack.post(slash_command("/no-such-command", "some words"))
    assert response.status_code == 404
    [line] = bot_lines(caplog, logging.INFO)
    assert line.getMessage() == "slack: no listener takes this request; answered 404"  # not bolt's body dump
