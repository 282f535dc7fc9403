"""The weekly digest in the Slack staff channel, end to end: queued by its scheduled job, sent by the outbox's
dispatcher through Slack's current file upload API (an upload URL, the bytes posted there, the upload completed
into the channel) with the digest, escaped, as the file's comment."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.config import DigestSettings
from bot.digest import WeeklyDigest, next_run
from bot.engine import Engine
from bot.outbound import Refused, RetryLater, StaffDigest
from bot.outbox import Dispatcher
from bot.surveys import Survey
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.handlers.png import one_pixel_png
from tests.handlers.slack.conftest import STAFF, SlackWorkspace

STAFF_CHANNEL = "CSTAFF01"


async def test_the_scheduled_digest_is_uploaded_as_a_chart_with_its_text(
    slack: SlackWorkspace, engine: Engine, database: Database, surveys: dict[str, Survey], clock: Clock
) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    customer = Customer(engine, user_id="ann")
    await customer.start("nps")
    await customer.say("9")
    answered = {"nps": surveys["nps"]}  # each survey digested costs the chart's eight weekly totals
    settings = DigestSettings()
    digest = WeeklyDigest(database, answered, settings, {"slack": STAFF_CHANNEL}, clock, min_group_size=5)
    await digest.sweep()  # planned
    clock.now = next_run(clock(), settings)
    assert await digest.sweep()

    assert await Dispatcher(database, {"slack": slack.channel.send}, clock=clock).run_once() == 1

    methods = [call.method for call in slack.fake.calls if call.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    [upload] = slack.fake.files.values()
    assert (upload.channel, upload.title, upload.filename) == (
        STAFF_CHANNEL,
        "Weekly digest, Mon 23 Nov 2026 to Mon 30 Nov 2026",
        "weekly-digest.png",
    )
    assert upload.initial_comment is not None
    assert "• NPS: +100 (95 % interval +100 to +100, 1 answer)" in upload.initial_comment
    assert upload.data is not None
    with Image.open(io.BytesIO(upload.data)) as image:
        image.verify()
        assert image.format == "PNG"
    [message] = slack.fake.messages(STAFF_CHANNEL)
    assert message["files"][0]["id"] == upload.id and message["text"] == upload.initial_comment


async def test_the_digest_is_escaped_so_that_it_mentions_and_links_nothing(slack: SlackWorkspace) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    text = "Top root cause: <!channel> & <https://evil.example|support>"
    await slack.channel.send(StaffDigest(target=STAFF_CHANNEL, title="Digest", text=text, chart_png=one_pixel_png()))

    [upload] = slack.fake.files.values()
    assert upload.initial_comment == "Top root cause: &lt;!channel&gt; &amp; &lt;https://evil.example|support&gt;"


async def test_a_staff_channel_the_bot_is_not_in_refuses_the_digest(slack: SlackWorkspace) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF], bot_member=False)
    digest = StaffDigest(target=STAFF_CHANNEL, title="Digest", text="No answers.", chart_png=one_pixel_png())
    assert await slack.channel.send(digest) == Refused("not_in_channel")


async def test_an_upload_that_keeps_failing_is_tried_again_later_and_shares_nothing(slack: SlackWorkspace) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    slack.fake.fail_uploads(times=4)  # more than slack_sdk's 3 retries of a server error
    digest = StaffDigest(target=STAFF_CHANNEL, title="Digest", text="No answers.", chart_png=one_pixel_png())

    assert await slack.channel.send(digest) == RetryLater("the file upload failed")
    assert slack.fake.calls_of("files.completeUploadExternal") == []
    assert slack.fake.messages(STAFF_CHANNEL) == []


async def test_an_app_installed_without_files_write_is_told_to_reinstall_not_retried(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.add_channel(STAFF_CHANNEL, "staff", members=[STAFF])
    slack.fake.fail("files.getUploadURLExternal", "missing_scope")
    digest = StaffDigest(target=STAFF_CHANNEL, title="Digest", text="No answers.", chart_png=one_pixel_png())

    assert await slack.channel.send(digest) == Refused("missing_scope")
    assert "reinstall the app so that it has the files:write scope" in caplog.text
