"""Campaigns: a survey sent to the recipients of a CSV file. Every invitation is written (through the same core
function as the HTTP API's, so the same refusals and rules apply) before the running bot's outbox dispatcher sends
it; each invitation's message is paced at the campaign's rate. A campaign's invitations are keyed by recipient, so a
rerun after a crash or Ctrl-C invites nobody twice and writes only the rest."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.invitations import (
    InCampaign,
    InvitationRefused,
    InvitationRequest,
    Invitations,
    ToPerson,
    ToPlatformUser,
)
from bot.outbox import MAX_PACE_SECONDS, Pace
from storage import campaigns as stored
from storage.campaigns import CampaignView, Funnel
from storage.db import Database
from storage.models import InvitationState

log = logging.getLogger(__name__)

RECIPIENT_COLUMNS = ("channel", "platform_id", "person_id", "reference")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as the HTTP API's
MAX_ATTRIBUTES, MAX_VALUE, MAX_REFERENCE, MAX_PLATFORM_ID = 20, 256, 128, 128
MAX_KEY = 128  # Invitation.idempotency_key
PACING_RECORDED_EVERY = 50  # invitations written between two records of the campaign's pacing
# Invitations written at once: on SQLite their transactions share commits; every row is still its own transaction.
WRITERS = 8
UNREACHABLE = "unreachable"
MIN_RATE = 1 / MAX_PACE_SECONDS


class RecipientsError(Exception):
    """The recipients file cannot be read as a whole (missing, not CSV, a header without the recipient columns)."""


class CampaignError(Exception):
    """The campaign cannot run as asked (an unknown survey, its name taken by another survey's campaign)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One row of the file: where it is, whom it invites (`key`: the recipient as the campaign knows them) and with
    what reference and attributes."""

    line: int
    key: str
    to: ToPerson | ToPlatformUser
    reference: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvalidRow:
    line: int
    problem: str  # names the column, never the value: a cell may hold a customer's words


@dataclass(slots=True)
class Summary:
    """What a run of `campaign send` did, or would do in a dry run."""

    invited: int = 0
    already: int = 0  # written by an earlier run of the campaign
    skipped: Counter[str] = field(default_factory=Counter)  # by the rule's reason
    unreachable: Counter[str] = field(default_factory=Counter)  # by reason
    failed: list[InvalidRow] = field(default_factory=list)  # the database or a bug refused the row
    invalid: list[InvalidRow] = field(default_factory=list)

    def count(self, state: str, reason: str | None) -> None:
        if state != InvitationState.SKIPPED:
            self.invited += 1
        elif (reason or "").startswith(UNREACHABLE):
            self.unreachable[reason or UNREACHABLE] += 1
        else:
            self.skipped[reason or "skipped"] += 1


def read_recipients(path: Path) -> tuple[list[Recipient], list[InvalidRow]]:
    """The recipients of a CSV file and its invalid rows, with their line numbers (the header is line 1)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipientsError(f"{path}: cannot read it as UTF-8 text: {error.__class__.__name__}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    check_header(header)
    recipients: list[Recipient] = []
    invalid: list[InvalidRow] = []
    first_line_of: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            try:
                recipient = recipient_of(header, cells, line)
            except ValueError as problem:
                invalid.append(InvalidRow(line, str(problem)))
                continue
            if (first := first_line_of.setdefault(recipient.key, line)) != line:
                invalid.append(InvalidRow(line, f"the same recipient as line {first}"))
                continue
            recipients.append(recipient)
    except csv.Error as error:
        raise RecipientsError(f"{path}, line {reader.line_num}: not valid CSV: {error}") from None
    return recipients, invalid


def check_header(header: list[str]) -> None:
    if "channel" not in header and "person_id" not in header:
        raise RecipientsError("the first line must name the columns: channel and platform_id, or person_id")
    if "channel" in header and "platform_id" not in header and "person_id" not in header:
        raise RecipientsError("a channel column needs a platform_id column")
    if duplicated := sorted(name for name, times in Counter(header).items() if times > 1):
        raise RecipientsError(f"columns named twice: {', '.join(duplicated)}")
    attributes = [name for name in header if name not in RECIPIENT_COLUMNS]
    if wrong := [name for name in attributes if not ATTRIBUTE_NAME.match(name)]:
        raise RecipientsError(f"attribute columns are named with letters, digits, - and _ only: {wrong[0][:64]!r}")
    if len(attributes) > MAX_ATTRIBUTES:
        raise RecipientsError(f"at most {MAX_ATTRIBUTES} attribute columns")


def recipient_of(header: list[str], cells: list[str], line: int) -> Recipient:
    """The row's recipient; ValueError naming what is wrong."""
    if len(cells) != len(header):
        raise ValueError(f"{len(cells)} cells, but the header names {len(header)} columns")
    row = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
    reference = row.get("reference") or None
    if reference is not None and len(reference) > MAX_REFERENCE:
        raise ValueError(f"reference is longer than {MAX_REFERENCE} characters")
    attributes = {name: value for name, value in row.items() if name not in RECIPIENT_COLUMNS and value}
    if long := [name for name, value in attributes.items() if len(value) > MAX_VALUE]:
        raise ValueError(f"{long[0]} is longer than {MAX_VALUE} characters")
    key, recipient = recipient_in(row)
    return Recipient(line, key, recipient, reference, attributes)


def recipient_in(row: dict[str, str]) -> tuple[str, ToPerson | ToPlatformUser]:
    """The row's recipient and its key in the campaign: a person by id, or a channel's user."""
    if person_id := row.get("person_id"):
        if not person_id.isdigit() or int(person_id) == 0:
            raise ValueError("person_id is not a positive whole number")
        return f"person:{int(person_id)}", ToPerson(int(person_id))
    channel, platform_id = row.get("channel", ""), row.get("platform_id", "")
    if not channel:
        raise ValueError("channel is empty" if "channel" in row else "person_id is empty")
    if not platform_id:
        raise ValueError("platform_id is empty")
    key = f"{channel}:{platform_id}"  # the recipient's idempotency key, which holds at most MAX_KEY characters
    if len(platform_id) > MAX_PLATFORM_ID or len(channel) > 32 or len(key) > MAX_KEY:
        raise ValueError(f"channel:platform_id is longer than {MAX_KEY} characters")
    return key, ToPlatformUser(channel, platform_id)


class Slots:
    """The send times of a campaign's messages, one pace apart, from now or after those of an earlier run."""

    def __init__(self, now: datetime, paced_until: datetime | None, pace_seconds: float) -> None:
        self.pace = timedelta(seconds=pace_seconds)
        self.next = max(now, paced_until + self.pace) if paced_until else now
        self.last: datetime | None = None
        self.taken = 0  # since the campaign's pacing was last recorded

    def take(self) -> Pace:
        self.last, self.next = self.next, self.next + self.pace
        self.taken += 1
        return Pace(self.last, self.pace.total_seconds())


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    name: str
    survey_id: str
    rate: float | None  # None: the campaign's recorded rate, else [invitations] campaign_rate
    source: str
    actor: str  # who runs it, for the audit log
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class CampaignRun:
    plan: CampaignPlan
    campaign: CampaignView | None  # None in the dry run of a campaign not yet recorded


class Campaigns:
    """Writes campaigns' invitations."""

    def __init__(
        self, database: Database, invitations: Invitations, default_rate: float, clock: Callable[[], datetime]
    ) -> None:
        self.database, self.invitations, self.default_rate, self.clock = database, invitations, default_rate, clock

    async def run(
        self, plan: CampaignPlan, recipients: list[Recipient], progress: Callable[[], None] = lambda: None
    ) -> Summary:
        return await self.send(await self.start(plan), recipients, progress)

    async def start(self, plan: CampaignPlan) -> CampaignRun:
        """The campaign, recorded unless it exists (or in a dry run); CampaignError when it cannot run."""
        if self.invitations.engine.catalogue.find(plan.survey_id) is None:
            raise CampaignError(f"--survey: no survey {plan.survey_id!r}")
        return CampaignRun(plan, await self._campaign(plan))

    async def send(
        self, run: CampaignRun, recipients: list[Recipient], progress: Callable[[], None] = lambda: None
    ) -> Summary:
        """Writes an invitation for every recipient not yet written by an earlier run (none in a dry run), each
        message timed at the campaign's rate after those written before; calls `progress` after each."""
        plan, campaign = run.plan, run.campaign
        rate = plan.rate or (campaign.rate if campaign else self.default_rate)
        slots = Slots(self.clock(), campaign.paced_until if campaign else None, 1 / rate)
        in_campaign = InCampaign(campaign.id if campaign else None, plan.name, plan.actor, slots.take)
        summary = Summary()
        written = await self._written(campaign)
        for recipient in recipients:  # one at a time: on SQLite, concurrent writers only wait on each other
            if recipient.key in written:
                summary.already += 1
            else:
                await self._invite(plan, recipient, in_campaign, summary)
            progress()
            if campaign is not None and not plan.dry_run and slots.taken >= PACING_RECORDED_EVERY:
                await self._record_pacing(campaign.id, slots)
        if campaign is not None and not plan.dry_run:
            await self._record_pacing(campaign.id, slots)
        return summary

    async def _campaign(self, plan: CampaignPlan) -> CampaignView | None:
        """The campaign of that name, recorded now unless it exists (or in a dry run); refused when it is another
        survey's."""
        async with self.database.transaction() as session:
            campaign = await stored.get_campaign(session, name=plan.name)
            if campaign is not None and campaign.survey_id != plan.survey_id:
                raise CampaignError(
                    f"--name: the campaign {plan.name!r} sends the survey {campaign.survey_id!r}; choose another name"
                )
            if plan.dry_run:
                return campaign
            rate = plan.rate or (campaign.rate if campaign else self.default_rate)
            if campaign is None:
                return await stored.add_campaign(
                    session, name=plan.name, survey_id=plan.survey_id, rate=rate, source=plan.source, now=self.clock()
                )
            if rate != campaign.rate:
                await stored.set_rate(session, campaign_id=campaign.id, rate=rate)
            return campaign

    async def _written(self, campaign: CampaignView | None) -> set[str]:
        """The recipients an earlier run of the campaign wrote, read at once: each is counted, not written again
        (Invitations.invite then need not look each recipient up first)."""
        if campaign is None:
            return set()
        async with self.database.snapshot() as session:
            return await stored.written_recipients(session, campaign_id=campaign.id)

    async def _invite(self, plan: CampaignPlan, recipient: Recipient, campaign: InCampaign, summary: Summary) -> None:
        """Writes the recipient's invitation and counts it."""
        request = InvitationRequest(plan.survey_id, recipient.to, recipient.reference, recipient.attributes)
        try:
            invited = await self.invitations.invite(
                request, idempotency_key=recipient.key, campaign=campaign, dry_run=plan.dry_run
            )
        except InvitationRefused as refused:
            if refused.field == ("recipient", "platform_id"):  # Telegram: the person never started the bot
                summary.unreachable[f"{UNREACHABLE}: never wrote to the bot; send them a link"] += 1
            else:
                summary.invalid.append(InvalidRow(recipient.line, refused.reason))
            return
        except Exception as error:  # the database or a bug: the rest may still go, and a rerun retries this one
            log.warning("campaign %s: line %d not written: %s", plan.name, recipient.line, type(error).__name__)
            summary.failed.append(InvalidRow(recipient.line, type(error).__name__))
            return
        if invited.replayed:
            summary.already += 1
        else:
            summary.count(invited.invitation.state, invited.invitation.reason)

    async def _record_pacing(self, campaign_id: int, slots: Slots) -> None:
        """Records how far the campaign's slots reach, so that a rerun times its messages after them."""
        if slots.last is None:
            return
        slots.taken = 0
        async with self.database.transaction() as session:
            await stored.pace_until(session, campaign_id=campaign_id, until=slots.last)


async def campaign_funnel(database: Database, name: str) -> tuple[CampaignView, Funnel] | None:
    """The campaign of that name and its funnel, if there is one."""
    async with database.snapshot() as session:
        campaign = await stored.get_campaign(session, name=name)
        if campaign is None:
            return None
        return campaign, await stored.funnel(session, campaign_id=campaign.id)


async def every_campaign(database: Database) -> list[tuple[CampaignView, Funnel]]:
    """Every campaign, newest first, with its funnel."""
    async with database.snapshot() as session:
        return [
            (campaign, await stored.funnel(session, campaign_id=campaign.id))
            for campaign in await stored.list_campaigns(session)
        ]


def summary_lines(summary: Summary, dry_run: bool) -> Iterator[str]:
    """The summary as the command prints it."""
    would = "would be " if dry_run else ""
    yield f"{summary.invited} {would}invited"
    if summary.already:
        yield f"{summary.already} invited by an earlier run (not again)"
    yield from counted(f"{sum(summary.skipped.values())} {would}skipped by rule", summary.skipped.items())
    yield from counted(f"{sum(summary.unreachable.values())} unreachable", summary.unreachable.items())
    yield from counted(f"{len(summary.failed)} failed (run again to retry them)", lines_of(summary.failed))
    yield from counted(f"{len(summary.invalid)} invalid rows", lines_of(summary.invalid))


def counted(title: str, details: Iterable[tuple[str, int | str]]) -> Iterator[str]:
    yield title
    for what, detail in details:
        yield f"  {what}: {detail}"


def lines_of(rows: list[InvalidRow]) -> list[tuple[str, str]]:
    return [(f"line {row.line}", row.problem) for row in rows]


def funnel_lines(campaign: CampaignView, funnel: Funnel) -> Iterator[str]:
    """`campaign status`: the campaign and its funnel."""
    yield (
        f"campaign {campaign.name}: survey {campaign.survey_id}, {campaign.rate:g}/s, "
        f"from {campaign.source or '-'}, created {campaign.created_at:%Y-%m-%d %H:%M} UTC"
    )
    yield from counted(f"skipped    {sum(funnel.skipped.values()):>7}", sorted(funnel.skipped.items()))
    for label, count in (
        ("invited", funnel.invited),
        ("waiting", funnel.waiting),
        ("delivered", funnel.delivered),
        ("started", funnel.started),
        ("completed", funnel.completed),
        ("failed", funnel.failed),
    ):
        yield f"{label:<10} {count:>7}"
