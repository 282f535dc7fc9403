"""Telegram failing: 429, 5xx, timeouts, a user who blocked the bot, a refused call."""

from __future__ import annotations

import itertools
import logging

import pytest
from sqlmodel import col, select

from bot.engine import Engine
from handlers.metrics import Metrics
from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import Answer, InboxUpdate, Person
from tests.fakes.telegram_api import FakeTelegram
from tests.handlers.scrape import labelled, scrape
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, MakeChannel, wait_until

FIRST_QUESTION = "How likely are you to recommend us to a friend or colleague?"


def first_question_sends(fake: FakeTelegram) -> list[float]:
    return [call.at for call in fake.calls_of("sendMessage") if call.params["text"].startswith(FIRST_QUESTION)]


async def test_a_429_waits_retry_after_and_delivers_once(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail("sendMessage", status=429, retry_after=1)
    await chat.command("start", "nps")
    calls = fake_telegram.calls_of("sendMessage")
    assert len(calls) == 2
    assert calls[1].at - calls[0].at >= 1.0
    assert fake_telegram.sent_messages(CUSTOMER) == [calls[1].params["text"]]


async def test_metrics_count_a_survey_on_telegram_its_429_and_the_403_of_a_blocked_user(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, engine: Engine, database: Database
) -> None:
    fake_telegram.fail("sendMessage", status=429, retry_after=1)
    await chat.command("start", "nps")
    fake_telegram.block_user(CUSTOMER)
    await chat.press("a1|1|recommend|3")

    core_sends = polling.services.delivery.replies.counts  # the process's, which /metrics reads
    samples = await scrape(Metrics(database, sends=core_sends, events=engine.tallies))
    assert labelled(samples, "feedbackbot_sends_total") == {
        (("channel", "telegram"), ("outcome", "rate limited")): 1,  # the first question's first attempt
        (("channel", "telegram"), ("outcome", "sent")): 1,  # the first question, after the wait
        (("channel", "telegram"), ("outcome", "unreachable")): 1,  # the reply to the answer: 403
    }
    by_kind = {
        (("channel", "telegram"), ("kind", "StartSurvey")): 1,
        (("channel", "telegram"), ("kind", "ChoiceAnswer")): 1,
    }
    assert labelled(samples, "feedbackbot_updates_received_total") == by_kind
    assert labelled(samples, "feedbackbot_updates_handled_total") == by_kind
    assert labelled(samples, "feedbackbot_complaints_opened_total") == {(("channel", "telegram"),): 1}


async def test_server_errors_are_retried_with_backoff_until_delivered(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail("sendMessage", status=500, times=2)
    fake_telegram.fail("sendMessage", status=502)
    await chat.command("start", "nps")
    attempts = first_question_sends(fake_telegram)
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert [gap >= wait * 0.9 for gap, wait in zip(gaps, (0.5, 1.0, 2.0), strict=True)] == [True] * 3
    assert len(fake_telegram.sent_messages(CUSTOMER)) == 1


async def test_a_timed_out_poll_loses_no_update(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.delay("getUpdates", 3)  # longer than the client's timeout
    await chat.command("start", "nps")
    assert fake_telegram.sent_messages(CUSTOMER)[0].startswith(FIRST_QUESTION)


async def test_a_send_that_timed_out_after_it_went_out_is_not_repeated(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    fake_telegram.delay("sendMessage", 2)  # the first send times out on the client, then still takes effect
    await chat.command("start", "nps")
    await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(CUSTOMER))
    await chat.press("a1|1|recommend|9")
    async with database.snapshot() as session:
        assert list(await session.exec(select(Answer.value))) == [9]
    # The request reached Telegram and only its answer was late: sending again would show the question twice.
    assert len(first_question_sends(fake_telegram)) == 1


async def test_a_user_who_blocked_the_bot_is_marked_and_not_sent_to_again(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    fake_telegram.block_user(CUSTOMER)
    await chat.press("a1|1|recommend|3")
    blocked_attempts = len(chat.texts())
    await chat.say("nothing")
    assert len(chat.texts()) == blocked_attempts  # no more tries
    async with database.snapshot() as session:
        assert (await session.exec(select(Person.unreachable))).one() is True
        stored = list(await session.exec(select(Answer.value, Answer.text)))
    assert stored == [(3, None), (None, "nothing")]  # what they send is still kept
    alerts = await fake_telegram.wait_for(lambda: fake_telegram.sent_messages(STAFF_CHAT))
    assert alerts[0].startswith("New complaint #1 (low_score")  # staff still hear of the complaint


async def test_unblocking_makes_the_person_reachable_again(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "nps")
    fake_telegram.block_user(CUSTOMER)
    await chat.press("a1|1|recommend|3")
    fake_telegram.blocked.clear()
    await chat.command("start", "csat")
    assert fake_telegram.sent_messages(CUSTOMER)[-1].endswith("1 = Very dissatisfied · 5 = Very satisfied")


async def test_a_bad_request_is_logged_under_its_update_without_the_chat_and_never_retried(
    polling: TelegramChannel,
    chat: Chat,
    fake_telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    correlated_records: None,
) -> None:
    caplog.set_level(logging.INFO)
    fake_telegram.fail("sendMessage", status=400, description="Bad Request: chat not found")
    start = await chat.command("start", "nps")
    await chat.command("help")
    assert len(first_question_sends(fake_telegram)) == 1
    [refused] = [record for record in caplog.records if "refused" in record.getMessage()]
    assert refused.getMessage() == "telegram sendMessage refused, not retried: Chat not found"
    assert getattr(refused, "correlation_id", None) == f"telegram-{start}"  # the update it answered
    assert str(CUSTOMER) not in caplog.text  # at INFO and above; in a private chat the chat is the person
    assert fake_telegram.sent_messages(CUSTOMER)[-1].startswith("I ask short questions")


async def test_a_slow_send_to_one_customer_holds_up_no_other(
    make_channel: MakeChannel, fake_telegram: FakeTelegram, database: Database
) -> None:
    await make_channel()
    fake_telegram.delay("sendMessage", 3)  # whichever send comes first hangs for 3 s
    customers = [Chat(fake_telegram, database, chat_id) for chat_id in range(1001, 1011)]
    for customer in customers:
        fake_telegram.push_update(fake_telegram.build.command(customer.chat_id, "start", "nps"))

    def served() -> list[int]:
        return [c.chat_id for c in customers if fake_telegram.sent_messages(c.chat_id)]

    await fake_telegram.wait_for(lambda: len(served()) == 9, timeout=2.5)
    await fake_telegram.wait_for(lambda: len(served()) == 10, timeout=5)


async def test_updates_of_one_chat_are_handled_in_order(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("start", "csat")
    await chat.press("a1|1|satisfaction|5")
    fake_telegram.delay("sendMessage", 0.3, times=3)  # slow replies while the next answers queue up
    pushed = [
        fake_telegram.push_update(fake_telegram.build.text(CUSTOMER, text)) for text in ("first", "second", "third")
    ]
    for update_id in pushed:
        await chat.handled(update_id)
    async with database.snapshot() as session:
        stored = list(await session.exec(select(Answer.text).where(col(Answer.text).is_not(None))))
    assert stored == ["first"]  # "first" answered the comment and closed the survey; the rest came after


async def test_an_update_that_keeps_failing_is_given_up_after_a_few_attempts(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("a bug")

    polling.services.engine.handle = broken  # type: ignore[assignment,method-assign]
    update_id = fake_telegram.push_update(fake_telegram.build.command(CUSTOMER, "start", "csat"))
    for _ in range(5):
        await wait_until(lambda: attempts_of(database, update_id), timeout=5)
        await polling.inbox.resubmit_unhandled()
    await chat.handled(update_id)
    async with database.snapshot() as session:
        row = await session.get(InboxUpdate, ("telegram", update_id))
    assert row is not None and row.attempts == 5 and row.payload is None


async def attempts_of(database: Database, update_id: int) -> bool:
    async with database.snapshot() as session:
        row = await session.get(InboxUpdate, ("telegram", update_id))
    return row is not None and row.attempts > 0


async def test_a_text_longer_than_a_telegram_message_is_cut_to_one(
    polling: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    await polling.services.sender.send(CUSTOMER, "x" * 5000)
    assert [len(text) for text in fake_telegram.sent_messages(CUSTOMER)] == [4096]  # 4,097 would be refused
