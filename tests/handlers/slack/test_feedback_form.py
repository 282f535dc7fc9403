"""/feedback: the form, its submission, anonymity that holds."""

from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import col, select

from storage.db import Database
from storage.models import Answer, Conversation, Person
from tests.conftest import database_dump
from tests.fakes.slack_signing import USER_ID, slash_command, view_submission
from tests.handlers.slack.conftest import SlackWorkspace, form


async def test_feedback_opens_the_form_with_the_service_preselected(slack: SlackWorkspace) -> None:
    response = await slack.post(slash_command("/feedback", "it-helpdesk"))
    assert response.status_code == 200
    [call] = await slack.settle(lambda: slack.fake.calls_of("views.open"))
    view = call.args["view"]
    assert view["callback_id"] == "feedback_form" and view["private_metadata"] == "internal-service"
    service, quality, _, comment, anonymous = view["blocks"]
    assert [o["value"] for o in service["element"]["options"]] == ["it-helpdesk", "facilities", "hr", "finance"]
    assert service["element"]["initial_option"]["value"] == "it-helpdesk"
    assert quality["element"]["options"][0]["text"]["text"] == "1 - Very dissatisfied"
    assert comment["optional"] is True and comment["element"]["multiline"] is True
    assert anonymous["element"]["initial_options"][0]["value"] == "anonymous"  # the survey's default


@pytest.mark.every_database
async def test_an_anonymous_submission_leaves_the_employee_nowhere(
    slack: SlackWorkspace, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    values = form(True, service="facilities", quality="1", speed="2", comment="Nobody fixed the heating")
    response = await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    assert response.status_code == 200 and response.content in (b"", b"null")
    thanks = await slack.settle(lambda: slack.fake.messages(USER_ID))
    assert "Thanks! Your feedback goes to the team anonymously." in thanks[-1]["text"]
    async with database.snapshot() as session:
        [conversation] = await session.exec(select(Conversation))
        assert conversation.anonymous and conversation.person_id is None and conversation.status == "completed"
        assert list(await session.exec(select(Person))) == []
        answers = list(await session.exec(select(Answer.question_id).order_by(col(Answer.id))))
    assert answers == ["service", "quality", "speed", "comment"]
    dump = await database_dump(database)
    assert "Nobody fixed the heating" in dump  # the dump holds the answers: the check below can fail
    assert USER_ID not in dump
    assert USER_ID not in caplog.text


async def test_a_named_submission_is_linked_to_the_employee(slack: SlackWorkspace, database: Database) -> None:
    values = form(False, service="hr", quality="5", speed="4", comment="")
    await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    await slack.settle(lambda: slack.fake.messages(USER_ID))
    async with database.snapshot() as session:
        [person] = await session.exec(select(Person))
    assert person.platform_id == USER_ID


async def test_a_submission_missing_a_required_answer_keeps_the_form_open(
    slack: SlackWorkspace, database: Database
) -> None:
    values = form(False, service="hr", speed="4")
    response = await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    body = json.loads(response.content)
    assert body["response_action"] == "errors"
    assert body["errors"] == {"quality": "How satisfied are you with their service? This question needs an answer."}
    async with database.snapshot() as session:
        assert list(await session.exec(select(Conversation))) == []
