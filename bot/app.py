"""Start-up: turns settings into a running core (database, surveys, analyzer, engine), or one clear error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from bot.cases import CaseDesk, Cases, StaffDestination
from bot.config import ChannelSection, ConfigError, Settings
from bot.digest import destinations as digest_destinations
from bot.engine import Engine
from bot.invitations import Invitations
from bot.links import Links
from bot.loops import Loops
from bot.outbound import SendCounts
from bot.reminders import Reminders
from bot.replies import Replies
from bot.sentiment import make_analyzer
from bot.staff_notices import StaffNotices
from bot.surveys import Survey, SurveyError, load_surveys
from bot.tallies import SweepTallies
from bot.webhooks import Webhooks
from storage.db import Database
from storage.migrate import is_current


@dataclass(slots=True)
class Core:
    """What every channel shares; the parts after `loops` are built from the others."""

    settings: Settings
    database: Database
    surveys: dict[str, Survey]
    engine: Engine
    cases: Cases
    loops: Loops = field(default_factory=Loops)
    swept: SweepTallies = field(default_factory=SweepTallies)  # what the minute's sweeps did, for /metrics
    notices: StaffNotices = field(init=False)  # of failed handlers, told where case alerts go
    sends: SendCounts = field(init=False)  # what became of every message sent, inline or from the outbox
    deliveries: SendCounts = field(init=False)  # what became of every webhook delivery, by outbox channel
    replies: Replies = field(init=False)  # the inline replies to events, sent once
    invitations: Invitations = field(init=False)  # to surveys, from the HTTP API and campaigns
    links: Links = field(init=False)  # to surveys, for receipts and QR codes
    reminders: Reminders = field(init=False)  # of invited surveys left unfinished, queued by the minute's sweep

    def __post_init__(self) -> None:
        self.notices = StaffNotices(self.database, self.cases.desk.destinations, self.cases.clock)
        self.sends = SendCounts()
        self.deliveries = SendCounts()
        self.replies = Replies(self.database, self.engine.keys.respondent_key, self.sends)
        writes_first = {name: section.writes_first for name, section in self.settings.configured_channels().items()}
        self.invitations = Invitations(
            self.database, self.engine, writes_first, self.engine.clock, self.settings.invitations
        )
        hash_key, clock = self.settings.respondent_hash_key, self.engine.clock
        self.links = Links(self.database, self.engine.catalogue, hash_key, self.settings.start_link, clock)
        engine = self.engine
        rate = self.settings.invitations.campaign_rate
        self.reminders = Reminders(
            self.database, self.settings.reminders, engine.catalogue, engine.conversations, clock, rate
        )

    async def close(self) -> None:
        await self.database.close()


def load_checked_surveys(settings: Settings) -> dict[str, Survey]:
    try:
        surveys = load_surveys(settings.surveys.dir)
    except SurveyError as error:
        raise ConfigError(f"[surveys] dir: {error}") from None
    for channel, section in settings.configured_channels().items():
        for key, survey in section.surveys_named().items():
            if survey not in surveys:
                raise ConfigError(f"[{channel}] {key}: no survey {survey!r} in {settings.surveys.dir}")
    check_pulses(settings, surveys)
    if settings.surveys.default not in surveys:
        known = ", ".join(surveys)
        raise ConfigError(
            f"[surveys] default: no survey {settings.surveys.default!r} in {settings.surveys.dir} ({known})"
        )
    return surveys


def check_pulses(settings: Settings, surveys: Mapping[str, Survey]) -> None:
    """Each pulse names a survey of the folder and channels the bot has (configured here or not)."""
    channels = [name for name, section in settings.sections().items() if isinstance(section, ChannelSection)]
    for pulse in settings.pulses:
        if pulse.survey not in surveys:
            raise ConfigError(f"[[pulses]] {pulse.name}: survey: no survey {pulse.survey!r} in {settings.surveys.dir}")
        for source in pulse.recipients:
            if source.channel not in channels:
                raise ConfigError(
                    f"[[pulses]] {pulse.name}: recipients: no channel {source.channel!r} (channels: "
                    f"{', '.join(channels)})"
                )


async def open_database(settings: Settings) -> Database:
    """The database, checked to answer; raises ConfigError naming [storage] url otherwise."""
    database = Database(settings.storage.url)
    try:
        await database.ping()
    except (SQLAlchemyError, OSError) as error:
        await database.close()
        reason = str(error.__cause__ or error).splitlines()[0]
        raise ConfigError(f"[storage] url: cannot reach the database: {reason}") from None
    return database


async def open_current_database(settings: Settings) -> Database:
    """The database, checked to answer and to have the newest schema; raises ConfigError otherwise."""
    database = await open_database(settings)
    if not await is_current(database):
        await database.close()
        raise ConfigError("[storage] url: the database schema is not up to date; run `feedbackbot db upgrade`")
    return database


def staff_destinations(settings: Settings) -> dict[str, StaffDestination]:
    """Where staff hear of cases, by channel: each running channel's staff chat or channel, if it has one, with
    where its escalations go and whom they mention."""
    return {
        channel: StaffDestination(target, section.escalation_destination, section.mention_in_escalations)
        for channel, section in settings.configured_channels().items()
        if (target := section.staff_destination)
    }


async def open_core(settings: Settings) -> Core:
    """Everything the bot needs, after checking that it is usable: surveys, database, schema."""
    surveys = load_checked_surveys(settings)
    digest_destinations(settings)  # raises ConfigError for a channel in [digest] destinations that does not run
    database = await open_current_database(settings)
    analyzer = make_analyzer(settings.sentiment.analyzer, settings.sentiment.complaint_threshold)
    desk = CaseDesk(settings.cases, staff_destinations(settings), Webhooks(settings.webhooks))
    engine = Engine(
        database=database, surveys=surveys, analyzer=analyzer, hash_key=settings.respondent_hash_key, desk=desk
    )
    return Core(settings=settings, database=database, surveys=surveys, engine=engine, cases=Cases(database, desk))
