"""The Bot API calls' transport: many customers at once share a few connections, and each gets every reply."""

from __future__ import annotations

from handlers.telegram.channel import CONNECTIONS
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.telegram.conftest import MakeChannel, start_surveys


async def test_customers_beyond_the_connections_wait_their_turn_and_each_gets_their_question(
    make_channel: MakeChannel, fake_telegram: FakeTelegram
) -> None:
    await make_channel()
    await fake_telegram.wait_for(lambda: fake_telegram.calls_of("getUpdates"))  # the bot is up and polling
    fake_telegram.slow_down(answer_after=0.2, for_seconds=60)  # calls overlap, as Telegram's do
    customers = range(4001, 4001 + 3 * CONNECTIONS)
    await start_surveys(fake_telegram, customers)
    # Calls overlap and never pass the connections (all of them busy when the machine keeps up: a test process short
    # of CPU starts fewer within the fake's hold, so the exact figure is not asserted).
    assert 1 < fake_telegram.most_at_once <= CONNECTIONS
    assert [chat_id for chat_id in customers if len(fake_telegram.sent_messages(chat_id)) != 1] == []
