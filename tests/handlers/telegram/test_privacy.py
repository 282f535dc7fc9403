"""/stop and /forget, each after a confirmation."""

from __future__ import annotations

from sqlalchemy import select

from handlers.telegram import TelegramChannel
from storage.db import Database
from storage.models import Answer, Person
from tests.conftest import database_dump
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, Chat, buttons

FREE_TEXT = "Ask for Maria at the Elm Street shop, she was rude"


async def test_forget_after_confirmation_leaves_no_personal_data(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "csat-ORDER-55")
    await chat.press("a1|1|satisfaction|1")
    await chat.say(FREE_TEXT)
    await chat.command("complain", "My phone is +1 555 0100")
    dump = await database_dump(database)
    assert str(CUSTOMER) in dump and FREE_TEXT in dump  # the check below can fail

    await chat.command("forget")
    confirm = chat.last()
    assert buttons(confirm) == [[("Yes", "c1|forget|yes"), ("Cancel", "c1|forget|no")]]
    await chat.press("c1|forget|no", confirm)
    assert fake_telegram.messages[(CUSTOMER, confirm["message_id"])]["text"] == "Cancelled: nothing changed."
    assert FREE_TEXT in await database_dump(database)
    await chat.command("forget")
    second = chat.last()
    await chat.press("c1|forget|yes", second)
    assert fake_telegram.messages[(CUSTOMER, second["message_id"])]["text"].endswith("\n\n✅ Yes")
    assert fake_telegram.sent_messages(CUSTOMER)[-1] == (
        "Done: your personal data is deleted. Your scores stay only in anonymous totals."
    )

    dump = await database_dump(database)
    for personal in (str(CUSTOMER), "user714862471", "ORDER-55", "Maria", "555 0100"):
        assert personal not in dump
    async with database.snapshot() as session:
        assert list(await session.exec(select(Answer.value))) == [(1,), (None,)]  # anonymous aggregates stay


async def test_stop_after_confirmation_opts_out_until_start(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    await chat.command("stop")
    await chat.press("c1|stop|yes")
    assert fake_telegram.sent_messages(CUSTOMER)[-1].startswith("Done: you won't get any more surveys.")
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() == (True,)
    await chat.command("start", "nps")
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() == (False,)
