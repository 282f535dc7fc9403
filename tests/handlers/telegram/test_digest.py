"""The weekly digest in the Telegram staff chat, end to end: queued by its scheduled job, sent by the outbox's
dispatcher through the channel as a photo of the chart with the digest as its caption (as a message after the photo
when too long for a caption), plain text."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.config import DigestSettings
from bot.digest import WeeklyDigest, next_run
from bot.engine import Engine
from bot.outbound import Sent, StaffDigest
from bot.surveys import Survey
from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from tests.bot.customer import Customer
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.png import one_pixel_png
from tests.handlers.telegram.conftest import STAFF_CHAT, outbox_settled


async def test_the_scheduled_digest_arrives_as_a_photo_with_its_text(
    polling: TelegramChannel,
    fake_telegram: FakeTelegram,
    engine: Engine,
    database: Database,
    surveys: dict[str, Survey],
    clock: Clock,
) -> None:
    for user, score in [("ann", 5), ("bob", 2)]:
        customer = Customer(engine, user_id=user)
        await customer.start("csat")
        await customer.say(str(score))
        await customer.say("skip")
    answered = {"csat": surveys["csat"]}  # each survey digested costs the chart's eight weekly totals
    settings = DigestSettings()
    digest = WeeklyDigest(database, answered, settings, {"telegram": str(STAFF_CHAT)}, clock, min_group_size=5)
    await digest.sweep()  # planned
    clock.now = next_run(clock(), settings)
    assert await digest.sweep()

    await outbox_settled(database)

    [(chat_id, photo, caption)] = fake_telegram.photos
    assert chat_id == STAFF_CHAT and caption is not None
    assert caption.startswith("Weekly digest, Mon 23 Nov 2026 to Mon 30 Nov 2026")
    assert "• CSAT: 50 % (95 % interval 9 % to 91 %, 2 answers)" in caption  # Wilson, 1 of 2
    assert "• #1, open 4 days (csat · test)" in caption  # the 2 opened a case, on Thursday
    with Image.open(io.BytesIO(photo.data)) as image:
        image.verify()
        assert image.format == "PNG"


async def test_a_digest_too_long_for_a_caption_follows_its_photo(
    polling: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    text = "Weekly digest\n" + "• a line of figures\n" * 100
    digest = StaffDigest(target=str(STAFF_CHAT), title="Weekly digest", text=text, chart_png=one_pixel_png())

    result = await polling.send(digest)

    [(_, _, caption)] = fake_telegram.photos
    photo_message = max(message_id for chat_id, message_id in fake_telegram.messages if chat_id == STAFF_CHAT)
    assert isinstance(result, Sent) and result.reference is not None and int(result.reference) < photo_message
    assert caption == "Weekly digest"
    assert fake_telegram.sent_messages(STAFF_CHAT) == [text]


async def test_a_text_that_fails_after_its_photo_does_not_send_the_photo_again(
    polling: TelegramChannel, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Weekly digest\n" + "• a line of figures\n" * 100
    digest = StaffDigest(target=str(STAFF_CHAT), title="Weekly digest", text=text, chart_png=one_pixel_png())
    fake_telegram.fail("sendMessage", status=403, description="Forbidden: bot was kicked from the group chat")

    result = await polling.send(digest)

    assert isinstance(result, Sent) and len(fake_telegram.photos) == 1
    assert "the weekly digest's text did not follow its chart" in caplog.text
