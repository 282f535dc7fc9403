"""/stop and /forget, each after a confirmation."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url
from sqlmodel import select

from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Answer, Person
from tests.conftest import database_dump
from tests.fakes.telegram_api import GROUP_MEMBER, FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, buttons, wait_until

FREE_TEXT = "Ask for Maria at the Elm Street shop, she was rude"


@pytest.mark.every_database
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
        assert list(await session.exec(select(Answer.value))) == [1, None]  # anonymous aggregates stay


async def test_stop_after_confirmation_opts_out_until_start(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    await chat.command("stop")
    await chat.press("c1|stop|yes")
    assert fake_telegram.sent_messages(CUSTOMER)[-1].startswith("Done: you won't get any more surveys.")
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() is True
    await chat.command("start", "nps")
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.opted_out))).one() is False


NAMES = {"first_name": "Zebedee", "last_name": "Quillfeather", "username": "zquill_customer"}
COMMENT = "The Kumquatzephyr courier threw my parcel"
REFERENCE = "ORDER-XQ5531"
REPLY_TO_STAFF = "Zirconwhistle was the driver"
PERSONAL = [str(CUSTOMER), *NAMES.values(), "Kumquatzephyr", REFERENCE, "Zirconwhistle"]


def named(payload: Any) -> Any:
    """The update with the customer's names in every user and chat of theirs, as a real client sends them."""
    if isinstance(payload, list):
        return [named(item) for item in payload]
    if not isinstance(payload, dict):
        return payload
    copied = {key: named(value) for key, value in payload.items()}
    return copied | NAMES if copied.get("id") == CUSTOMER else copied


def personal_data_on_disk(database: Database) -> dict[str, list[str]]:
    """The customer's words and names found in the raw bytes of the SQLite file and its -wal and -shm files."""
    path = Path(make_url(database.url).database or "")
    found: dict[str, list[str]] = {}
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        content = file.read_bytes() if file.exists() else b""
        if hits := [word for word in PERSONAL if word.encode() in content]:
            found[file.name] = hits
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_forget_leaves_no_personal_data_in_the_database_files_while_the_bot_runs(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    build, staff = fake_telegram.build, Chat(fake_telegram, database, STAFF_CHAT)
    await chat.push(named(build.command(CUSTOMER, "start", f"csat-{REFERENCE}")))
    await chat.push(named(build.callback_query(chat.last(), "a1|1|satisfaction|1")))
    await chat.push(named(build.text(CUSTOMER, COMMENT)))
    alert = await fake_telegram.wait_for(lambda: fake_telegram.chat_messages(STAFF_CHAT))
    await staff.push(build.callback_query(alert[0], "k1|contact|1", user_id=GROUP_MEMBER))
    prompt = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "message to the customer" in m.get("text", "")]
    )
    question = build.message(STAFF_CHAT, user_id=GROUP_MEMBER, text="Who was it?", reply_to_message=prompt[0])
    await staff.push({"message": question})
    await fake_telegram.wait_for(lambda: "Who was it?" in fake_telegram.sent_messages(CUSTOMER)[-1])
    await chat.push(named(build.text(CUSTOMER, REPLY_TO_STAFF)))
    await fake_telegram.wait_for(
        lambda: any("Zirconwhistle" in text for text in fake_telegram.sent_messages(STAFF_CHAT))
    )
    assert {word for hits in personal_data_on_disk(database).values() for word in hits} == set(PERSONAL)

    await chat.push(named(build.command(CUSTOMER, "forget")))
    await chat.push(named(build.callback_query(chat.last(), "c1|forget|yes")))

    dump = await database_dump(database)
    assert [word for word in PERSONAL if word in dump] == []

    async def files_scrubbed() -> bool:
        return not personal_data_on_disk(database)

    with contextlib.suppress(TimeoutError):  # the files are scrubbed just after the update is marked handled
        await wait_until(files_scrubbed, timeout=5)
    assert personal_data_on_disk(database) == {}
