"""Staff work a case from the Telegram staff chat: acknowledge, take it, resolve it with its root cause."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from handlers.telegram.cases import staff_text
from handlers.telegram.channel import TelegramChannel
from storage.db import Database
from storage.models import CaseEvent, Complaint, OutboxMessage, Person
from storage.views import case_view
from tests.fakes.telegram_api import GROUP_MEMBER, FakeTelegram
from tests.handlers.telegram.conftest import CUSTOMER, STAFF_CHAT, Chat, buttons, outbox_settled, staff_alert

NOW = datetime(2026, 11, 26, tzinfo=UTC)


async def case(database: Database) -> Complaint:
    async with database.snapshot() as session:
        return (await session.exec(select(Complaint))).one()


async def test_staff_resolve_a_case_from_the_staff_chat(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", "My refund never arrived")
    alert = await staff_alert(fake_telegram)
    assert [label for row in buttons(alert) for label, _ in row] == [
        "Acknowledge",
        "Assign to me",
        "Resolve",
        "Contact customer",
    ]

    await staff.push(fake_telegram.build.callback_query(alert, "k1|ack|1", user_id=GROUP_MEMBER))
    await fake_telegram.wait_for(
        lambda: "Status: acknowledged" in fake_telegram.messages[(STAFF_CHAT, alert["message_id"])]["text"]
    )
    edited = fake_telegram.messages[(STAFF_CHAT, alert["message_id"])]
    assert "Acknowledge" not in [label for row in buttons(edited) for label, _ in row]
    await fake_telegram.wait_for(
        lambda: f"Case #1: acknowledged by tg:{GROUP_MEMBER}" in fake_telegram.sent_messages(STAFF_CHAT)
    )

    await staff.push(fake_telegram.build.callback_query(edited, "k1|resolve|1", user_id=GROUP_MEMBER))
    prompt = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "corrective action taken" in m.get("text", "")]
    )
    reply = fake_telegram.build.message(
        STAFF_CHAT,
        user_id=GROUP_MEMBER,
        text="Refunded the order and fixed the payment job",
        reply_to_message=prompt[0],
    )
    await staff.push({"message": reply})
    causes = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "Choose the root cause" in m.get("text", "")]
    )
    await staff.push(fake_telegram.build.callback_query(causes[0], "k1|cause|1|0", user_id=GROUP_MEMBER))

    await fake_telegram.wait_for(
        lambda: any("What we did: Refunded the order" in t for t in fake_telegram.sent_messages(CUSTOMER))
    )
    resolved = await case(database)
    assert (resolved.status, resolved.corrective_action, resolved.root_cause) == (
        "resolved",
        "Refunded the order and fixed the payment job",
        "process",
    )
    async with database.snapshot() as session:
        trail = list(await session.exec(select(CaseEvent.action).order_by(col(CaseEvent.id))))
    assert trail == ["opened", "acknowledged", "resolved"]


async def test_a_staff_button_pressed_outside_the_staff_chat_changes_nothing(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("complain", "Charged twice")
    alert = await staff_alert(fake_telegram)
    forged = alert | {"chat": fake_telegram.chat_messages(CUSTOMER)[0]["chat"]}
    await chat.push(fake_telegram.build.callback_query(forged, "k1|ack|1"))
    notice = fake_telegram.calls_of("answerCallbackQuery")[-1].params.get("text")
    assert notice == "Only staff can act on complaint cases."
    assert (await case(database)).status == "new"


async def test_staff_write_to_the_customer_from_the_staff_chat(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    staff = Chat(fake_telegram, database, STAFF_CHAT)
    await chat.command("complain", "The app deleted my order")
    alert = await staff_alert(fake_telegram)
    await staff.push(fake_telegram.build.callback_query(alert, "k1|contact|1", user_id=GROUP_MEMBER))
    prompt = await fake_telegram.wait_for(
        lambda: [m for m in fake_telegram.chat_messages(STAFF_CHAT) if "message to the customer" in m.get("text", "")]
    )
    reply = fake_telegram.build.message(
        STAFF_CHAT, user_id=GROUP_MEMBER, text="Which order number was it?", reply_to_message=prompt[0]
    )
    await staff.push({"message": reply})
    await fake_telegram.wait_for(lambda: "Which order number was it?" in fake_telegram.sent_messages(CUSTOMER)[-1])
    await chat.say("ORDER-77")
    await fake_telegram.wait_for(
        lambda: "Case #1: the customer replied: ORDER-77" in fake_telegram.sent_messages(STAFF_CHAT)
    )


async def test_a_long_complaint_still_fits_one_staff_message(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram
) -> None:
    words = "The parcel was late \U0001f621 and nobody answered my calls. " * 78  # 4,055 characters
    await chat.command("complain", words.strip())
    alert = await staff_alert(fake_telegram)
    assert len(alert["text"]) <= 4096  # Telegram refuses longer messages
    assert alert["text"].startswith("New complaint #1 (explicit")
    assert alert["text"].endswith("… (all of it: feedbackbot cases show 1)\nStatus: new")


def test_a_staff_alert_with_a_long_corrective_action_still_fits() -> None:
    case = Complaint(id=7, channel="telegram", reasons="explicit", text="Late", status="resolved", created_at=NOW)
    case.corrective_action, case.root_cause, case.assignee = "Called the courier. " * 220, "supplier", "Dana"
    text = staff_text(case_view(case), None)
    assert len(text) == 4096
    assert text.endswith("… (all of it: feedbackbot cases show 7)")


async def test_a_customer_who_blocked_the_bot_is_marked_when_staff_write_to_them(
    polling: TelegramChannel, chat: Chat, fake_telegram: FakeTelegram, database: Database
) -> None:
    await chat.command("complain", "My refund never arrived")
    await staff_alert(fake_telegram)
    fake_telegram.block_user(CUSTOMER)
    await polling.services.cases.contact(1, "tg:1", "Which account did you pay from?")
    await outbox_settled(database)
    async with database.snapshot() as session:
        [contact] = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "case_contact"))
        person = (await session.exec(select(Person))).one()
    assert (contact.status, person.unreachable) == ("failed", True)
    assert not any("Which account" in text for text in fake_telegram.sent_messages(CUSTOMER))
