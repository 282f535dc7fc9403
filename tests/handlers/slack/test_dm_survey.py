"""Conversational surveys in the DM, App Home, and everything Slack and people do wrong."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import col, select

from handlers.metrics import Metrics
from handlers.slack import common
from storage.db import Database
from storage.models import Answer, Complaint
from tests.conftest import database_dump
from tests.fakes.slack_signing import (
    USER_ID,
    app_home_opened,
    block_actions,
    event_callback,
    message_im,
    slash_command,
    view_submission,
)
from tests.handlers.scrape import labelled, scrape
from tests.handlers.slack.conftest import DM, STAFF, SlackWorkspace, form, press, start_from_home


@pytest.mark.every_database
async def test_a_dm_survey_with_a_threaded_comment(slack: SlackWorkspace, database: Database) -> None:
    question = await start_from_home(slack, "csat")
    assert "How satisfied are you with our service?" in question["blocks"][0]["text"]["text"]
    assert [e["text"]["text"] for e in question["blocks"][1]["elements"]] == ["1", "2", "3", "4", "5"]

    await press(slack, question, "2")
    follow_up = await slack.settle(lambda: [m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")])
    assert "We're sorry. What went wrong?" in follow_up[-1]["text"]
    assert follow_up[-1]["thread_ts"] == question["ts"]
    updated = next(m for m in slack.fake.messages(USER_ID) if m["ts"] == question["ts"])
    assert all(block["type"] != "actions" for block in updated["blocks"])  # old buttons stop working
    assert updated["blocks"][-1]["elements"][0]["text"] == "✅ 2"

    reply = message_im("The printer queue lost my invoices", ts=f"{time.time():.6f}") | {"thread_ts": question["ts"]}
    await slack.post(event_callback(reply))
    thanks = await slack.settle(
        lambda: [m for m in slack.fake.messages(USER_ID) if m.get("text") == "Thank you for your feedback!"]
    )
    assert thanks[0]["thread_ts"] == question["ts"]
    async with database.snapshot() as session:
        answers = list(
            await session.exec(select(Answer.question_id, Answer.value, Answer.text).order_by(col(Answer.id)))
        )
        [complaint] = await session.exec(select(Complaint))
    assert answers == [("satisfaction", 2, None), ("what_went_wrong", None, "The printer queue lost my invoices")]
    assert complaint.text == "The printer queue lost my invoices"


@pytest.mark.every_database
async def test_a_retried_event_has_no_second_effect(slack: SlackWorkspace, database: Database) -> None:
    question = await start_from_home(slack, "nps")
    await press(slack, question, "9")
    await slack.settle(lambda: len(slack.fake.messages(USER_ID)) >= 2)
    inbound = event_callback(message_im("Fast and friendly"), event_id="EvRETRIED01")
    first, retry = await asyncio.gather(slack.post(inbound), slack.post(inbound, retry=1))  # Slack gave up waiting
    assert (first.status_code, retry.status_code) == (200, 200)
    await slack.settle(
        lambda: any(m["text"] == "Thank you, this helps us a lot!" for m in slack.fake.messages(USER_ID))
    )
    await slack.post(inbound, retry=2)
    await slack.idle()
    async with database.snapshot() as session:
        assert len(list(await session.exec(select(Answer)))) == 2
    thanks = [m for m in slack.fake.messages(USER_ID) if m["text"] == "Thank you, this helps us a lot!"]
    assert len(thanks) == 1


@pytest.mark.parametrize(
    "headers",
    [{"secret": "wrong-secret"}, {"timestamp": int(time.time()) - 6 * 60}],
    ids=["wrong signature", "stale"],
)
async def test_badly_signed_or_stale_requests_get_401_and_are_logged_without_body(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, headers: dict[str, Any]
) -> None:
    inbound = slash_command("/feedback", "secret-body-text")
    response = await slack.post(inbound, **headers)
    assert response.status_code == 401
    assert "refused a request with a missing, wrong or stale signature" in caplog.text
    assert "secret-body-text" not in caplog.text
    assert slack.fake.calls_of("views.open") == []


async def test_an_unsigned_request_gets_401(slack: SlackWorkspace) -> None:
    inbound = slash_command("/feedback")
    response = await slack.client.post(
        "/slack/events", content=inbound.body, headers={"Content-Type": inbound.content_type}
    )
    assert response.status_code == 401


async def test_an_unknown_button_gets_a_notice(slack: SlackWorkspace) -> None:
    await slack.post(block_actions("from_an_old_version", "x", channel_id=DM))
    [(channel, user, message)] = await slack.settle(lambda: slack.fake.ephemeral)
    assert (channel, user, message["text"]) == (DM, USER_ID, "That button is no longer valid.")


async def test_a_forged_answer_button_changes_nothing(slack: SlackWorkspace, database: Database) -> None:
    await start_from_home(slack, "csat")
    await slack.post(block_actions("survey_answer_0", "1|satisfaction|9", channel_id=DM))
    await slack.settle(lambda: slack.fake.ephemeral)
    async with database.snapshot() as session:
        assert list(await session.exec(select(Answer))) == []


async def test_a_429_is_waited_out_the_message_arrives_once_and_metrics_count_the_429(
    slack: SlackWorkspace, database: Database
) -> None:
    slack.fake.fail("chat.postMessage", retry_after=1)
    await start_from_home(slack, "nps")
    posts = slack.fake.calls_of("chat.postMessage")
    assert len(posts) == 2 and posts[1].at - posts[0].at >= 1
    assert len(slack.fake.messages(USER_ID)) == 1
    samples = await scrape(Metrics(database, sends=slack.channel.services.replies.counts))  # the process's sends
    assert labelled(samples, "feedbackbot_sends_total") == {
        (("channel", "slack"), ("outcome", "rate limited")): 1,
        (("channel", "slack"), ("outcome", "sent")): 1,
    }


@pytest.mark.parametrize("error", ["user_not_found", "channel_not_found", "not_in_channel"])
async def test_undeliverable_errors_are_logged_clearly_without_a_crash(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    slack.fake.fail("chat.postMessage", error)
    await slack.post(block_actions("survey_start_0", "nps", channel_id=DM))
    await slack.settle(lambda: f"slack chat.postMessage: {error}" in caplog.text)
    await start_from_home(slack, "csat")  # the bot carries on
    assert USER_ID not in caplog.text


async def test_app_home_for_an_employee_shows_the_open_survey_and_named_answers(slack: SlackWorkspace) -> None:
    question = await start_from_home(slack, "nps")
    await press(slack, question, "8")
    await slack.settle(lambda: len(slack.fake.messages(USER_ID)) >= 2)
    await slack.post(event_callback(app_home_opened()))
    home = await slack.settle(lambda: USER_ID in slack.fake.homes and slack.fake.published_home(USER_ID))
    texts = "\n".join(block["text"]["text"] for block in home["blocks"] if block["type"] == "section")
    assert "You have *Recommendation* open" in texts
    assert "nps / recommend: 8" in texts
    assert "Service quality" not in texts  # not staff


async def test_app_home_for_staff_shows_figures_and_hides_small_anonymous_groups(slack: SlackWorkspace) -> None:
    for number in range(5):
        values = form(True, service="hr", quality="5" if number else "1", speed="3")
        await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    await slack.post(
        view_submission(
            "feedback_form", form(True, service="finance", quality="4", speed="3"), private_metadata="internal-service"
        )
    )
    await slack.settle(lambda: len(slack.fake.messages(USER_ID)) == 6)
    await slack.post(event_callback(app_home_opened(STAFF)))
    home = await slack.settle(lambda: STAFF in slack.fake.homes and slack.fake.published_home(STAFF))
    texts = "\n".join(block["text"]["text"] for block in home["blocks"] if block["type"] == "section")
    assert "• hr: 80% satisfied (5 answers)" in texts
    assert "• finance: not shown, fewer than 5 anonymous answers (1)" in texts
    assert "• facilities: no answers" in texts
    assert "*Open cases: 1*" in texts
    assert "• NPS nps: no answers" in texts


@pytest.mark.parametrize("seconds_since_boot", [30.0, 10_000.0])
async def test_staff_channel_members_are_staff(
    slack: SlackWorkspace, monkeypatch: pytest.MonkeyPatch, seconds_since_boot: float
) -> None:
    # The monotonic clock starts near zero at boot: a bot started then must still ask who is in the channel.
    monkeypatch.setattr(common, "time", SimpleNamespace(monotonic=lambda: seconds_since_boot))
    slack.fake.add_channel("CSTAFF", "staff", members=[USER_ID])
    slack.channel.services.settings = slack.channel.services.settings.model_copy(update={"staff_channel": "CSTAFF"})
    await slack.post(event_callback(app_home_opened()))
    home = await slack.settle(lambda: USER_ID in slack.fake.homes and slack.fake.published_home(USER_ID))
    assert any("Service quality" in b["text"]["text"] for b in home["blocks"] if b["type"] == "section")


async def test_an_anonymous_dm_survey_leaves_the_employee_nowhere(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    question = await start_from_home(slack, "internal-service")
    await press(slack, question, "Facilities")
    rating = await slack.settle(lambda: [m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")])
    await press(slack, rating[-1], "1")
    await slack.settle(lambda: len([m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")]) >= 2)
    speed = [m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")][-1]
    await press(slack, speed, "1")
    await slack.settle(lambda: len([m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")]) >= 3)
    comment = message_im("The boiler is still broken", ts=f"{time.time():.6f}") | {"thread_ts": question["ts"]}
    await slack.post(event_callback(comment))
    await slack.settle(lambda: any("anonymously" in m["text"] for m in slack.fake.messages(USER_ID)))
    await slack.idle()
    dump = await database_dump(database)
    assert "The boiler is still broken" in dump  # the dump holds the answers: the checks below can fail
    assert USER_ID not in dump and f"D{USER_ID}" not in dump
    assert USER_ID not in caplog.text
    async with database.snapshot() as session:
        [complaint] = await session.exec(select(Complaint))
    assert complaint.person_id is None and complaint.reasons.startswith("low_score")
