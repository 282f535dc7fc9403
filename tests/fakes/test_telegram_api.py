"""Tests of the fake Bot API server, driven by the real python-telegram-bot client."""

import asyncio
import datetime as dtm
import json
from pathlib import Path

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import FakeTelegram, Params
from tests.fakes.telegram_spec import SPEC_PATH, TelegramSpec, Upload
from tests.handlers.png import one_pixel_png

SAMPLES = SPEC_PATH.parents[1] / "samples" / "telegram" / "captured_updates.json"
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Good", callback_data="rate:5"), InlineKeyboardButton("Bad", callback_data="rate:1")]]
)


def bot_for(fake: FakeTelegram, read_timeout: float = 5.0) -> Bot:
    return Bot(fake.token, base_url=fake.base_url, request=HTTPXRequest(read_timeout=read_timeout))


async def raw_call(fake: FakeTelegram, method: str, **params: object) -> tuple[int, Params]:
    """POST a JSON body, bypassing PTB."""
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}{fake.token}/{method}", json=params)
    return response.status_code, response.json()


async def test_get_me_answers_the_bot_user(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        assert bot.username == "feedback_test_bot"
        assert bot.id == 123456789
    assert [c.method for c in fake_telegram.calls] == ["getMe"]


async def test_send_message_round_trips_an_inline_keyboard(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        first = await bot.send_message(42, "How was it?", reply_markup=KEYBOARD)
        second = await bot.send_message(42, "Anything else?")
        group = await bot.send_message(-1001234567890, "Hello group")

    assert first.reply_markup == KEYBOARD
    assert (first.chat.type, first.from_user and first.from_user.is_bot) == ("private", True)
    assert second.message_id == first.message_id + 1
    assert (group.chat.type, group.message_id) == ("supergroup", 1)
    sent = fake_telegram.calls_of("sendMessage")[0].params
    assert sent["reply_markup"] == KEYBOARD.to_dict()  # PTB sends it JSON-encoded in a form field
    assert fake_telegram.sent_messages(42) == ["How was it?", "Anything else?"]


async def test_get_updates_confirms_with_offset(fake_telegram: FakeTelegram) -> None:
    first = fake_telegram.push_update(fake_telegram.build.text(42, "hello"))
    second = fake_telegram.push_update(fake_telegram.build.command(42, "start"))
    async with bot_for(fake_telegram) as bot:
        assert [u.update_id for u in await bot.get_updates()] == [first, second]
        assert [u.update_id for u in await bot.get_updates()] == [first, second]  # not confirmed yet
        assert [u.update_id for u in await bot.get_updates(offset=second, limit=1)] == [second]
        assert fake_telegram.confirmed_offset == second
        assert await bot.get_updates(offset=second + 1) == ()
    assert fake_telegram.confirmed_offset == second + 1
    assert fake_telegram.pending_updates == []


async def test_get_updates_long_polls_until_an_update_arrives(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake_telegram.wait_for(lambda: fake_telegram.calls_of("getUpdates"))
        update_id = fake_telegram.push_update(fake_telegram.build.text(42, "late"))
        assert [u.update_id for u in await asyncio.wait_for(poll, 1)] == [update_id]
        assert await bot.get_updates(offset=update_id + 1, timeout=30) == ()  # capped at max_poll_timeout


async def test_get_updates_negative_offset_and_concurrent_polls(fake_telegram: FakeTelegram) -> None:
    ids = [fake_telegram.push_update(fake_telegram.build.text(42, str(n))) for n in range(3)]
    async with bot_for(fake_telegram) as bot:
        assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[-1:]
        assert fake_telegram.confirmed_offset == ids[-1]
        await bot.get_updates(offset=ids[-1] + 1)
        first = asyncio.create_task(bot.get_updates(timeout=30))
        await fake_telegram.wait_for(lambda: len(fake_telegram.calls_of("getUpdates")) == 3)
        assert await raw_call(fake_telegram, "getUpdates") == (200, {"ok": True, "result": []})
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first


async def test_get_updates_honours_allowed_updates(fake_telegram: FakeTelegram) -> None:
    message = fake_telegram.build.text(42, "hi")
    fake_telegram.push_update(fake_telegram.build.text(42, "plain"))
    fake_telegram.push_update(fake_telegram.build.edited_message(message["message"], "edited"))
    async with bot_for(fake_telegram) as bot:
        updates = await bot.get_updates(allowed_updates=["edited_message"])
    assert [u.edited_message and u.edited_message.text for u in updates] == ["edited"]


async def test_builders_make_updates_ptb_understands(fake_telegram: FakeTelegram) -> None:
    build = fake_telegram.build
    async with bot_for(fake_telegram) as bot:
        question = await bot.send_message(42, "Rate us", reply_markup=KEYBOARD)
        payloads = [
            build.callback_query(question.to_dict(), "rate:5"),
            build.sticker(42),
            build.photo(42, "receipt"),
            build.voice(42),
            build.location(42),
            build.contact(42),
            build.group_text(-1001234567890, "in a group", user_id=7),
            build.command(42, "feedback", "the app crashed"),
        ]
        ids = [fake_telegram.push_update(p) for p in payloads]
        updates = await bot.get_updates()
        query = updates[0].callback_query
        assert query is not None
        assert (query.data, query.message and query.message.message_id) == ("rate:5", question.message_id)
        assert await query.answer("Thanks!")
        with pytest.raises(BadRequest, match="Query is too old"):
            await query.answer()

    assert [u.update_id for u in updates] == ids
    messages = [u.effective_message for u in updates[1:]]
    assert all(m is not None for m in messages)
    kinds = [m and (m.sticker, m.photo, m.voice, m.location, m.contact) for m in messages[:5]]
    assert all(k and sum(bool(x) for x in k) == 1 for k in kinds)
    assert updates[6].effective_chat and updates[6].effective_chat.type == "supergroup"
    command = updates[7].effective_message
    assert command and command.text == "/feedback the app crashed" and command.entities[0].type == "bot_command"
    spec = fake_telegram.spec
    assert [spec.check({"update_id": 1, **p}, ["Update"]) for p in payloads] == [[]] * len(payloads)


def test_captured_updates_are_accepted() -> None:
    fake = FakeTelegram()
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
    assert [fake.push_update(u) for u in samples.values()] == [u["update_id"] for u in samples.values()]
    with pytest.raises(ValueError, match="is required"):
        fake.push_update({"message": {"text": "no ids"}})


async def test_callback_query_needs_a_matching_button(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        question = await bot.send_message(42, "Rate us", reply_markup=KEYBOARD)
    with pytest.raises(ValueError, match="no button"):
        fake_telegram.build.callback_query(question.to_dict(), "rate:3")


@pytest.mark.parametrize(
    ("method", "params", "status", "fragment"),
    [
        ("sendMessages", {"chat_id": 42, "text": "hi"}, 404, "Not Found"),
        ("sendMessage", {"chat_id": 42, "text": "hi", "colour": "red"}, 400, "unknown parameter colour"),
        ("sendMessage", {"chat_id": 42}, 400, "parameter text is required"),
        ("sendMessage", {"chat_id": 42, "text": "  "}, 400, "1-4096 characters"),
        ("sendMessage", {"chat_id": 42, "text": "hi", "disable_notification": "yes"}, 400, "expected Boolean"),
        ("getFile", {"file_id": "abc"}, 400, "fake does not implement getFile"),
    ],
)
async def test_bad_raw_calls_are_violations(
    fake_telegram: FakeTelegram, method: str, params: Params, status: int, fragment: str
) -> None:
    code, body = await raw_call(fake_telegram, method, **params)
    assert (code, body["ok"], body["error_code"]) == (status, False, status)
    assert fragment in body["description"]
    assert [v.method for v in fake_telegram.pop_violations()] == [method]


async def test_bad_nested_object_is_a_violation(fake_telegram: FakeTelegram) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    async with bot_for(fake_telegram) as bot:
        with pytest.raises(BadRequest, match="callback_data must be 1-64 bytes"):
            await bot.send_message(42, "hi", reply_markup=too_long)
        with pytest.raises(BadRequest, match="exactly one kind of action"):
            await bot.send_message(42, "hi", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x")]]))
    assert fake_telegram.expect_violation("callback_data").method == "sendMessage"
    assert fake_telegram.expect_violation("kind of action").method == "sendMessage"
    assert fake_telegram.violations == []


async def test_leftover_violations_fail_the_test() -> None:
    async with FakeTelegram() as fake, httpx.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}wrong:token/getMe")
    assert response.status_code == 401
    with pytest.raises(pytest.fail.Exception, match="Unauthorized"):
        fake.assert_clean()


async def test_uploads_arrive_as_multipart(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        with pytest.raises(BadRequest, match="Image_process_failed"):  # Telegram's answer to a file that is no image
            await bot.send_photo(42, b"\x89PNG fake", caption="receipt")
    upload = fake_telegram.calls_of("sendPhoto")[0].params["photo"]
    assert isinstance(upload, Upload) and upload.size == 9 and fake_telegram.photos == []


async def test_a_photo_becomes_a_message_with_its_sizes_and_caption(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        sent = await bot.send_photo(42, one_pixel_png(), caption="chart")
        with pytest.raises(BadRequest, match="caption is too long"):
            await bot.send_photo(42, one_pixel_png(), caption="x" * 1025)
    assert (sent.caption, sent.photo[0].width, sent.photo[0].height) == ("chart", 1, 1)
    [(chat_id, upload, caption)] = fake_telegram.photos
    assert (chat_id, upload.data, caption) == (42, one_pixel_png(), "chart")


async def test_unimplemented_boolean_methods_answer_true(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        assert await bot.set_chat_title(-100200300, "Feedback")
        assert await bot.send_chat_action(42, "typing")
        assert await bot.log_out()
        assert await bot.close()


async def test_rate_limit_surfaces_as_retry_after(fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("sendMessage", status=429, retry_after=7)
    async with bot_for(fake_telegram) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(42, "hi")
        await bot.send_message(42, "again")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    assert fake_telegram.sent_messages(42) == ["again"]


@pytest.mark.parametrize(("status", "text"), [(500, "Internal Server Error"), (502, "Bad Gateway")])
async def test_server_errors_surface_as_network_errors(fake_telegram: FakeTelegram, status: int, text: str) -> None:
    fake_telegram.fail("sendMessage", status=status, times=2)
    async with bot_for(fake_telegram) as bot:
        for _ in range(2):
            with pytest.raises(NetworkError, match=text):
                await bot.send_message(42, "hi")
        assert (await bot.send_message(42, "hi")).text == "hi"


async def test_blocked_user_surfaces_as_forbidden(fake_telegram: FakeTelegram) -> None:
    fake_telegram.block_user(42)
    async with bot_for(fake_telegram) as bot:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(42, "hi")
        await bot.send_message(43, "hi")
    assert fake_telegram.sent_messages(42) == []


async def test_delay_provokes_a_client_timeout_but_still_sends(fake_telegram: FakeTelegram) -> None:
    fake_telegram.delay("sendMessage", 0.5)
    async with bot_for(fake_telegram, read_timeout=0.1) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(42, "slow")
    assert await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(42)) == ["slow"]


async def test_edit_message_text_and_not_modified(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        sent = await bot.send_message(42, "Rate us", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text("Thanks!", 42, sent.message_id, reply_markup=KEYBOARD)
        assert isinstance(edited, type(sent)) and edited.edit_date is not None
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Thanks!", 42, sent.message_id, reply_markup=KEYBOARD)
        bare = await bot.edit_message_text("Thanks!", 42, sent.message_id)  # drops the keyboard
        assert not isinstance(bare, bool) and bare.reply_markup is None
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(42, sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("?", 42, 999)
    assert fake_telegram.sent_messages(42) == ["Rate us", "Thanks!", "Thanks!"]


async def test_webhook_and_commands(fake_telegram: FakeTelegram) -> None:
    async with bot_for(fake_telegram) as bot:
        assert await bot.set_webhook("https://example.org/hook", allowed_updates=["message"])
        assert (await bot.get_webhook_info()).url == "https://example.org/hook"
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()
        assert await bot.set_my_commands([("start", "Begin the survey")])
        assert [c.command for c in await bot.get_my_commands()] == ["start"]
        assert await bot.delete_my_commands()
        assert await bot.get_my_commands() == ()


async def test_every_answer_is_valid_under_the_spec(fake_telegram: FakeTelegram) -> None:
    spec = TelegramSpec.load()
    markup = KEYBOARD.to_dict()
    calls: list[tuple[str, Params]] = [
        ("getMe", {}),
        ("sendMessage", {"chat_id": 42, "text": "Rate us", "reply_markup": markup}),
        ("sendMessage", {"chat_id": -5, "text": "Group", "reply_markup": {"remove_keyboard": True}}),
        ("editMessageText", {"chat_id": 42, "message_id": 1, "text": "Thanks", "reply_markup": markup}),
        ("editMessageReplyMarkup", {"chat_id": 42, "message_id": 1}),
        ("setWebhook", {"url": "https://example.org/hook"}),
        ("getWebhookInfo", {}),
        ("deleteWebhook", {"drop_pending_updates": True}),
        ("setMyCommands", {"commands": [{"command": "start", "description": "Begin"}]}),
        ("getMyCommands", {}),
        ("deleteMyCommands", {}),
        ("sendChatAction", {"chat_id": 42, "action": "typing"}),
        ("getChat", {"chat_id": 42}),
        ("getChat", {"chat_id": -1001234567890}),
        ("getUpdates", {"timeout": 0}),
        ("close", {}),
        ("logOut", {}),
        ("sendMessage", {"chat_id": 42, "text": "Rate us again", "reply_markup": markup}),
    ]
    for method, params in calls:
        code, body = await raw_call(fake_telegram, method, **params)
        assert (code, spec.check(body["result"], spec.returns[method], method)) == (200, []), body
    fake_telegram.push_update(fake_telegram.build.text(42, "hi"))
    query = fake_telegram.build.callback_query(fake_telegram.last_bot_message(42), "rate:1")
    fake_telegram.push_update(query)
    code, body = await raw_call(fake_telegram, "getUpdates")
    assert spec.check(body["result"], ["Array of Update"]) == [] and len(body["result"]) == 2
    code, body = await raw_call(fake_telegram, "answerCallbackQuery", callback_query_id=query["callback_query"]["id"])
    assert (code, body["result"]) == (200, True)


async def test_wait_for_times_out(fake_telegram: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match="not met within"):
        await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(42), timeout=0.1)


async def test_application_polls_the_fake(fake_telegram: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message
        await update.effective_message.reply_text("Welcome!", reply_markup=KEYBOARD)

    app = ApplicationBuilder().token(fake_telegram.token).base_url(fake_telegram.base_url).build()
    app.add_handler(CommandHandler("start", start))
    update_id = fake_telegram.push_update(fake_telegram.build.command(42, "start"))
    async with app:
        assert app.updater
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=1), poll_interval=0)
        await app.start()
        assert await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(42)) == ["Welcome!"]
        await app.updater.stop()
        await app.stop()
    assert fake_telegram.confirmed_offset == update_id + 1
    assert [c.method for c in fake_telegram.calls][:2] == ["getMe", "deleteWebhook"]


def test_spec_is_the_reference_copy() -> None:
    assert Path(SPEC_PATH).is_file() and TelegramSpec.load().version.startswith("Bot API")
