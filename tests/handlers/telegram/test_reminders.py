"""Reminders on Telegram, end to end on the fake Bot API: an invited customer who left the survey alone gets, a day
later, the reminder with the open question's buttons; pressing one carries the survey on."""

from __future__ import annotations

from bot.invitations import InvitationRequest, Invitations, ToPlatformUser
from handlers.telegram.channel import TelegramChannel
from storage import queries
from storage.db import Database
from tests.conftest import Clock
from tests.handlers.telegram.conftest import CUSTOMER, Chat, MakeChannel, buttons, outbox_settled

REMINDER = "A reminder: your survey is still open, and we would be glad of your answers."
QUESTION = "How satisfied are you with our service?"


async def invite_known_customer(channel: TelegramChannel, database: Database, clock: Clock) -> int:
    """The customer started the bot once; an invitation to the csat survey is then queued for them."""
    async with database.transaction() as session:
        await queries.get_or_create_person(session, channel="telegram", platform_id=str(CUSTOMER), language="en")
    invitations = Invitations(database, channel.invitations.engine, {"telegram": False}, clock)
    request = InvitationRequest("csat", ToPlatformUser("telegram", str(CUSTOMER)), "ORDER123")
    return (await invitations.invite(request, api_key="crm", idempotency_key=None)).invitation.id


async def test_a_reminder_asks_the_open_question_again_and_pressing_it_carries_the_survey_on(
    make_channel: MakeChannel, chat: Chat, database: Database, clock: Clock
) -> None:
    channel = await make_channel()
    invitation_id = await invite_known_customer(channel, database, clock)
    await outbox_settled(database)  # the invitation, recorded sent before the clock moves
    assert QUESTION in chat.texts()[0]

    clock.advance(hours=23)
    assert await channel.reminders.sweep() == 0
    clock.advance(hours=1)
    assert await channel.reminders.sweep() == 1
    await outbox_settled(database)
    reminder = chat.last()
    assert reminder["text"].startswith(f"{REMINDER}\n\n{QUESTION}")
    scale = buttons(reminder)[0]
    assert len(scale) == 5  # the csat scale, as the invitation showed it

    [*_, (_, five)] = scale
    await chat.press(five, reminder)
    assert chat.texts()[-1] == "Anything we could do better?"
    view = await channel.invitations.get(invitation_id)
    assert view is not None and view.state == "started"
    assert await channel.reminders.sweep() == 0  # one reminder, by default


async def test_a_customer_who_blocked_the_bot_since_is_marked_unreachable_and_reminded_no_more(
    make_channel: MakeChannel, chat: Chat, database: Database, clock: Clock
) -> None:
    channel = await make_channel()
    await invite_known_customer(channel, database, clock)
    await outbox_settled(database)
    chat.fake.block_user(CUSTOMER)

    clock.advance(hours=24)
    assert await channel.reminders.sweep() == 1
    await outbox_settled(database)
    assert len(chat.fake.sent_messages(CUSTOMER)) == 1  # the invitation only: the reminder was refused
    async with database.snapshot() as session:
        person = await queries.get_person(session, channel="telegram", platform_id=str(CUSTOMER))
    assert person is not None and person.unreachable

    channel.reminders.settings = channel.reminders.settings.model_copy(update={"count": 2})
    clock.advance(hours=24)
    assert await channel.reminders.sweep() == 0
