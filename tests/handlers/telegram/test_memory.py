"""The channel keeps nothing per customer in the process: their state lives in the database, so a process serving
many customers does not grow with them."""

from __future__ import annotations

from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import MakeChannel, start_surveys


async def test_customers_who_start_a_survey_leave_nothing_of_theirs_in_the_application(
    make_channel: MakeChannel, fake_telegram: FakeTelegram
) -> None:
    channel = await make_channel()
    await start_surveys(fake_telegram, range(5001, 5031))
    application = channel.application
    assert (dict(application.chat_data), dict(application.user_data)) == ({}, {})
    # python-telegram-bot marks each update's chat and user for a persistence in these sets, which only a persistence
    # empties: with none, unchecked, they held every customer the process ever saw.
    assert application._chat_ids_to_be_updated_in_persistence == set()
    assert application._user_ids_to_be_updated_in_persistence == set()
