"""Customer and employee words reach the staff in Slack unable to mention, link, format or pass for the bot's lines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot.cases import CaseDesk, StaffDestination
from bot.engine import Engine
from bot.events import Respondent, StartSurvey, TextAnswer
from bot.outbox import Dispatcher
from storage.db import Database
from storage.models import Answer
from tests.fakes.slack_signing import (
    USER_ID,
    app_home_opened,
    block_actions,
    event_callback,
    message_im,
    text_value,
    view_submission,
)
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

STAFF_CHANNEL = "CSTAFF"
HOSTILE = (
    "Hey <!channel> <!here> <!everyone> <@U0STAFF01> <!subteam^S0ADMINS> see <https://evil.example/login|click here>"
)
# Formatting, a fake line of the bot's, a right-to-left override and zero-width spaces around it.
DISGUISED = f"{HOSTILE}\n*urgent* _now_ ~old~ `code`\n> quoted\nStatus: closed\nrefund\u202e\u200bgnp.exe\ufeff"
CONTROLS = ("<!channel>", "<!here>", "<!everyone>", "<@U0STAFF01>", "<!subteam^S0ADMINS>", "<https://")
HIDDEN = ("\u202e", "\u200b", "\ufeff")


@pytest.fixture
def desk() -> CaseDesk:
    """Cases alert the Slack staff channel."""
    return CaseDesk(destinations={"slack": StaffDestination(STAFF_CHANNEL)})


@pytest.fixture
def staff_channel(slack: SlackWorkspace) -> Dispatcher:
    """The staff channel in the workspace, and the outbox that posts there."""
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    engine = slack.channel.services.engine
    return Dispatcher(engine.database, {"slack": slack.channel.send}, clock=engine.clock)


def text_objects(value: Any) -> list[tuple[str, str]]:
    """Every text object in blocks or a view, as (type, text)."""
    if isinstance(value, list):
        return [found for item in value for found in text_objects(item)]
    if not isinstance(value, dict):
        return []
    if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
        return [(value["type"], value["text"])]
    return [found for item in value.values() for found in text_objects(item)]


def texts_of(message: dict[str, Any]) -> list[str]:
    """Every text Slack may show of a message: its fallback `text` (read as mrkdwn) and its text objects."""
    return [message.get("text", ""), *(text for _, text in text_objects(message.get("blocks", [])))]


def assert_harmless(texts: list[str], objects: list[tuple[str, str]], words: str = "Hey") -> None:
    """No mention, link, fake bot line or hidden character; `words` (the customer's) shown as plain text only."""
    assert any(words in text for text in texts)  # the words did arrive: the checks below can fail
    for text in texts:
        assert not any(control in text for control in CONTROLS), text
        assert not any(character in text for character in HIDDEN), text
        assert not any(line.startswith("Status:") for line in text.splitlines()), text
    assert {kind for kind, text in objects if words in text} == {"plain_text"}  # no formatting


def assert_message_harmless(message: dict[str, Any], words: str = "Hey") -> None:
    assert_harmless(texts_of(message), text_objects(message.get("blocks", [])), words)


def case_messages(slack: SlackWorkspace) -> list[dict[str, Any]]:
    return slack.fake.messages(STAFF_CHANNEL)


async def employee_complains(slack: SlackWorkspace, dispatcher: Dispatcher, comment: str) -> dict[str, Any]:
    """A named /feedback form with the lowest scores and `comment`; returns the case message staff get."""
    values: dict[str, dict[str, Any]] = {
        question: {"value": {"type": "static_select", "selected_option": {"value": value}}}
        for question, value in (("service", "facilities"), ("quality", "1"), ("speed", "1"))
    }
    values["comment"] = {"value": text_value(comment)}
    values["anonymous"] = {"value": {"type": "checkboxes", "selected_options": []}}
    response = await slack.post(view_submission("feedback_form", values, private_metadata="internal-service"))
    assert response.status_code == 200
    assert await dispatcher.run_once() == 1
    [card] = case_messages(slack)
    return card


async def test_a_feedback_comment_reaches_the_case_message_escaped_and_as_plain_text(
    slack: SlackWorkspace, staff_channel: Dispatcher
) -> None:
    card = await employee_complains(slack, staff_channel, DISGUISED)
    assert_message_harmless(card)
    assert "&lt;!channel&gt;" in card["text"]  # the notification keeps the words, escaped
    assert "“Status: closed”" in card["blocks"][1]["text"]["text"]  # the customer's line, quoted as theirs


async def test_a_reference_from_a_telegram_deep_link_reaches_the_case_message_escaped(
    slack: SlackWorkspace, staff_channel: Dispatcher, engine: Engine
) -> None:
    customer = Respondent(channel="telegram", user_id="714862471")
    await engine.handle(StartSurvey(customer, "e1", "csat", reference="<!channel>*Hey*"))
    await engine.handle(TextAnswer(customer, "e2", "1"))
    await engine.handle(TextAnswer(customer, "e3", DISGUISED))
    assert await staff_channel.run_once() == 2  # the alert, then its update with the comment
    card, added = case_messages(slack)
    assert added["thread_ts"] == card["ts"] and added["text"] == "the customer added a comment"
    [update] = [call.args for call in slack.fake.calls_of("chat.update")]
    assert_message_harmless(card)
    assert "reference &lt;!channel&gt;*Hey*" in card["blocks"][1]["text"]["text"]
    assert update["ts"] == card["ts"] and "<!" not in str(update)


async def test_each_step_of_the_case_keeps_the_words_harmless(slack: SlackWorkspace, staff_channel: Dispatcher) -> None:
    card = await employee_complains(slack, staff_channel, "The heating is broken")
    contact = {"customer_message": {"value": text_value("Which floor is it?")}}
    await slack.post(view_submission("case_contact_form", contact, private_metadata="1", user_id=STAFF))
    await staff_channel.run_once()  # the staff's message to the employee, and the step in the case's thread
    await slack.post(event_callback(message_im(DISGUISED)))  # the employee's answer, forwarded to the case
    await slack.post(block_actions("case_acknowledge", "1", user_id=STAFF, channel_id=STAFF_CHANNEL, message=card))
    resolved = {
        "corrective_action": {"value": text_value("Fixed it <!here> *now*\nStatus: closed")},
        "root_cause": {"value": {"type": "static_select", "selected_option": {"value": "process"}}},
        "customer_message": {"value": text_value("")},
    }
    await slack.post(view_submission("case_resolve_form", resolved, private_metadata="1", user_id=STAFF))
    await staff_channel.run_once()
    thread = [m for m in case_messages(slack) if m.get("thread_ts") == card["ts"]]
    replied = [m for m in thread if "the customer replied" in m["text"]]
    assert len(replied) == 1
    assert_message_harmless(replied[0])
    resolution = next(m for m in thread if "resolved by" in m["text"])
    assert_message_harmless(resolution, "Fixed it")
    updated = case_messages(slack)[0]
    assert_message_harmless(updated, "Fixed it")
    assert "Done: Fixed it &lt;!here&gt; *now* Status: closed (process)" in texts_of(updated)


async def test_staff_app_home_shows_complaints_escaped_each_on_its_line(
    slack: SlackWorkspace, staff_channel: Dispatcher
) -> None:
    await employee_complains(slack, staff_channel, DISGUISED)
    await slack.post(event_callback(app_home_opened(STAFF)))
    home = await slack.settle(lambda: STAFF in slack.fake.homes and slack.fake.published_home(STAFF))
    objects = text_objects(home["blocks"])
    assert_harmless([text for _, text in objects], objects)
    [complaints] = [text for _, text in objects if "Hey" in text]
    assert "\n" not in complaints  # one complaint, one line: its words cannot add another


@pytest.mark.parametrize("number", ["\u00b2", "\u0661", "\uff11"], ids=["superscript", "Arabic-Indic", "fullwidth"])
async def test_a_forged_answer_button_with_other_digits_changes_nothing(
    slack: SlackWorkspace, database: Database, number: str
) -> None:
    await slack.post(block_actions("survey_start_0", "csat"))  # conversation 1, at its first question
    await slack.settle(lambda: slack.fake.messages(USER_ID))
    await slack.post(block_actions("survey_answer_0", f"{number}|satisfaction|1"))
    [(_, _, notice)] = await slack.settle(lambda: slack.fake.ephemeral)
    assert notice["text"] == "That button is no longer valid."
    async with database.snapshot() as session:
        assert list(await session.exec(select(Answer))) == []
