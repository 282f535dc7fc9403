"""A customer's words in the Telegram staff chat: plain text, nothing hidden, no line that passes for the bot's."""

from __future__ import annotations

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from tests.fakes.telegram_api import GROUP_MEMBER, FakeTelegram
from tests.handlers.telegram.conftest import STAFF_CHAT, Chat

# Markup of both parse modes, a fake status line, a right-to-left override and zero-width characters.
DISGUISED = "<b>Refund</b> *now* [click](https://evil.example)\nStatus: closed\nrefund\u202e\u200bgnp.exe\ufeff"
HIDDEN = ("\u202e", "\u200b", "\ufeff")


def staff_calls(fake: FakeTelegram) -> list[dict[str, object]]:
    """The parameters of every message the bot sent or edited in the staff chat."""
    calls = fake.calls_of("sendMessage") + fake.calls_of("editMessageText")
    return [call.params for call in calls if call.params["chat_id"] == STAFF_CHAT]


async def test_staff_messages_with_customer_words_are_plain_text_with_nothing_hidden(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", DISGUISED)
    [alert] = await fake_telegram.wait_for(lambda: fake_telegram.chat_messages(STAFF_CHAT))
    await staff.push(fake_telegram.build.callback_query(alert, "k1|contact|1", user_id=GROUP_MEMBER))
    prompt = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "message to the customer" in m.get("text", "")]
    )
    ask = fake_telegram.build.message(STAFF_CHAT, user_id=GROUP_MEMBER, text="Which order?", reply_to_message=prompt[0])
    await staff.push({"message": ask})
    await chat.say(f"ORDER-77\n{DISGUISED}")  # the answer, forwarded to the staff chat
    forwarded = await fake_telegram.wait_for(
        lambda: [text for text in fake_telegram.sent_messages(STAFF_CHAT) if "the customer replied" in text]
    )
    sent = staff_calls(fake_telegram)
    assert any("<b>Refund</b>" in str(params["text"]) for params in sent)  # the words arrived, as typed
    for params in sent:
        assert "parse_mode" not in params  # plain text: no markup of the customer's is read
        assert not any(character in str(params["text"]) for character in HIDDEN)
    alert_lines = str(sent[0]["text"]).splitlines()
    assert [line for line in alert_lines if line.startswith("Status:")] == ["Status: new"]  # the bot's own only
    assert "“Status: closed”" in alert_lines
    assert len(forwarded) == 1 and "\n" not in forwarded[0]  # the reply on the step's one line
