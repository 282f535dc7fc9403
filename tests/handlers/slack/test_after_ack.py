"""The work after the acknowledgement (bolt's lazy listeners): Slack's passing failures are retried, and shutdown
waits for what is under way."""

from __future__ import annotations

from tests.fakes.slack_signing import USER_ID, block_actions
from tests.handlers.slack.conftest import DM, SlackWorkspace, start_from_home


async def test_a_reply_answered_500_is_retried_and_arrives_once(slack: SlackWorkspace) -> None:
    slack.fake.fail("chat.postMessage", status=500)
    question = await start_from_home(slack, "nps")
    await slack.idle()
    assert [call.args["channel"] for call in slack.fake.calls_of("chat.postMessage")] == [USER_ID, USER_ID]
    assert [message["ts"] for message in slack.fake.messages(USER_ID)] == [question["ts"]]


async def test_shutdown_waits_for_a_reply_being_posted(slack: SlackWorkspace) -> None:
    slack.fake.delay("chat.postMessage", 1)
    assert (await slack.post(block_actions("survey_start_0", "nps", channel_id=DM))).status_code == 200
    await slack.channel.stop()
    [question] = slack.fake.messages(USER_ID)
    assert "recommend" in question["text"]
