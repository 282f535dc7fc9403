"""Reminders of invited surveys: the minute's sweep queues one (up to `[reminders] count`) for each invitation whose
survey is still open and unfinished and has been left alone for the delay, outside the person's quiet hours; the
person's channel then asks the survey's current question again, with its buttons, under a short notice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import InvitationSettings, ReminderSettings
from bot.conversations import Conversations
from bot.events import Respondent
from bot.outbound import SurveyReminder
from bot.outbox import Pace, enqueue
from bot.prompts import NoticeKind, Reply, notice
from bot.surveys import SurveyCatalogue
from storage import reminders as stored
from storage.db import Database

BATCH = 500  # invitations read per transaction of a sweep
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reminder:
    """What a reminder's message is: the notice and the open question, as a reply to the person."""

    event_id: str  # the name its sends go by in the log and the send counts: `reminder-<invitation>-<number>`
    who: Respondent
    reply: Reply


class Reminders:
    """Queues the reminders due (`sweep`), says what each is (`reminder`) and keeps the time zones that place the
    quiet hours."""

    def __init__(
        self,
        database: Database,
        settings: ReminderSettings,
        catalogue: SurveyCatalogue,
        conversations: Conversations,
        clock: Callable[[], datetime],
        rate: float = InvitationSettings().campaign_rate,
    ) -> None:
        self.database, self.settings, self.catalogue, self.clock = database, settings, catalogue, clock
        self.pace = 1 / rate  # seconds between two reminders sent, as between a campaign's invitations
        self.conversations = conversations

    async def sweep(self) -> int:
        """Queues the reminders due now, each counted on its invitation in the transaction that queues it; returns
        how many."""
        if not self.settings.enabled or self.settings.count == 0:
            return 0
        now = self.clock()
        cutoffs = {
            survey.id: now - timedelta(hours=survey.reminder_after_hours or self.settings.after_hours)
            for survey in self.catalogue.values()
        }
        queued, after_id = 0, 0
        while True:
            async with self.database.transaction() as session:
                due = await stored.due_reminders(
                    session, cutoffs=cutoffs, count=self.settings.count, now=now, after_id=after_id, limit=BATCH
                )
                # Held in quiet hours: a later sweep sends it once they end for the person.
                awake = [reminder for reminder in due if not self.in_quiet_hours(now, reminder.timezone)]
                await stored.count_reminders(
                    session, invitation_ids=[reminder.invitation_id for reminder in awake], now=now
                )
                for reminder in awake:
                    message = SurveyReminder(
                        invitation_id=reminder.invitation_id,
                        platform_id=reminder.platform_id,
                        number=reminder.reminders_sent + 1,
                    )
                    # Paced: quiet hours ending release many at once, which must not hold up staff or replies.
                    enqueue(session, channel=reminder.channel, message=message, now=now, pace=Pace(now, self.pace))
                queued += len(awake)
            if len(due) < BATCH:
                return queued
            after_id = due[-1].invitation_id

    async def knows_timezone(self, who: Respondent) -> bool:
        async with self.database.snapshot() as session:
            return await stored.get_timezone(session, channel=who.channel, platform_id=who.user_id) is not None

    async def learn_timezone(self, who: Respondent, timezone: str) -> None:
        """Keeps the time zone the platform tells for the person (Slack does), where quiet hours are placed."""
        async with self.database.transaction() as session:
            await stored.set_timezone(session, channel=who.channel, platform_id=who.user_id, timezone=timezone)

    def in_quiet_hours(self, moment: datetime, timezone: str | None) -> bool:
        """Whether `moment` falls in the quiet hours of someone in `timezone` (the default one when unknown)."""
        span = self.settings.quiet_span
        if span is None:
            return False
        local = moment.astimezone(zone(timezone) or zone(self.settings.default_timezone)).time()
        return within(local, *span)

    async def reminder(self, message: SurveyReminder, channel: str) -> Reminder | None:
        """The reminder to send: the notice and the question the invitation's survey waits on; None when there is
        nothing to remind of any more (the survey finished, expired or was replaced, the person opted out, blocked
        the bot or was forgotten)."""
        async with self.database.snapshot() as session:
            target = await stored.reminder_target(session, invitation_id=message.invitation_id, now=self.clock())
        if target is None:
            return None
        who = Respondent(channel, message.platform_id)
        question = await self.conversations.open_question(who)
        if question is None or question.conversation_id != target.conversation_id:
            return None
        prompts = [notice(NoticeKind.INFO, "survey_reminder", target.language), question]
        return Reminder(f"reminder-{message.invitation_id}-{message.number}", who, Reply(prompts=prompts))


def within(local: time, start: time, end: time) -> bool:
    """Whether a time of day falls in [start, end), a span that may pass midnight (21:00-08:00)."""
    if start <= end:
        return start <= local < end
    return local >= start or local < end


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo | None:
    """The time zone of an IANA name; None for no name or one this machine does not know."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.debug("unknown time zone %r: the default one is used", name)
        return None
