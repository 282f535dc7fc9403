"""The core's `feedbackbot` commands (export, report, db, surveys, score, cases, person, link) and the helpers they
share."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import io
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.engine import make_url
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import correlation, logformat, logsafety
from bot.app import load_checked_surveys, open_core, open_current_database, open_database
from bot.campaigns import (
    MIN_RATE,
    CampaignError,
    CampaignPlan,
    Campaigns,
    RecipientsError,
    Summary,
    campaign_funnel,
    every_campaign,
    funnel_lines,
    read_recipients,
    summary_lines,
)
from bot.cases import CaseDesk, Cases, alert_text
from bot.config import ConfigError, Settings, load_settings, unknown_variables
from bot.events import Respondent
from bot.export import ExportFormat, export_answers
from bot.links import LinkRefused, LinkRequest, Links, qr_png
from bot.people import People, PrivacyKeys
from bot.pulses import PlannedPulse, due_again, planned
from bot.sentiment import make_analyzer
from bot.surveys import SurveyCatalogue, check_surveys
from bot.webhooks import CHANNEL_PREFIX, webhook_of
from storage import views
from storage.backup import BackupError, backup_sqlite
from storage.campaigns import CampaignView, Funnel
from storage.db import Database
from storage.links import LinkView
from storage.migrate import SchemaChange, upgrade
from storage.models import CaseStatus
from storage.person_record import PersonRecord, person_record, record_request
from storage.types import utcnow
from storage.views import CaseView, TrailLine
from storage.webhooks import FailedDelivery, failed_deliveries, retry_deliveries

DEFAULT_CONFIG = Path("config.toml")
INTERRUPTED = 130  # the exit status after Ctrl-C
T = TypeVar("T")

# The core's commands; handlers/cli.py adds the commands that start channels, which the core may not import.
core_commands = typer.Typer()
db_app = typer.Typer(help="Manage the database: its schema and backups.", no_args_is_help=True)
surveys_app = typer.Typer(help="Work with the survey files.", no_args_is_help=True)
cases_app = typer.Typer(help="Look at complaint cases.", no_args_is_help=True)
core_commands.add_typer(db_app, name="db")
core_commands.add_typer(surveys_app, name="surveys")
person_app = typer.Typer(
    help="Answer a person's data requests: export or erase what is held about them.", no_args_is_help=True
)
core_commands.add_typer(cases_app, name="cases")
pulses_app = typer.Typer(help="Look at the recurring surveys of [[pulses]].", no_args_is_help=True)
core_commands.add_typer(pulses_app, name="pulses")
core_commands.add_typer(person_app, name="person")
campaign_app = typer.Typer(help="Send a survey to a list of recipients and follow its funnel.", no_args_is_help=True)
core_commands.add_typer(campaign_app, name="campaign")

webhooks_app = typer.Typer(help="Look at webhook deliveries that failed for good, and send them again.")
core_commands.add_typer(webhooks_app, name="webhooks", no_args_is_help=True)


@dataclass(frozen=True, slots=True)
class Invocation:
    """What every command reads its settings with: the file named by --config, and the settings model with the
    channels' sections."""

    config: Path | None
    settings_model: type[Settings]


def installed_version() -> str:
    """The version of the installed feedbackbot package."""
    return version("feedbackbot")


def show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"feedbackbot {installed_version()}")
        raise typer.Exit()


def command_line(channel_commands: typer.Typer, settings_model: type[Settings]) -> typer.Typer:
    """The `feedbackbot` command line: the commands that start channels, then the core's, all reading settings
    into `settings_model` (so the core's commands accept every channel's section too)."""
    app = typer.Typer(
        help="feedbackbot: collects customer feedback in chat and turns complaints into fixed problems.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def main(
        ctx: typer.Context,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                "-c",
                help="TOML configuration file (default: config.toml, if there is one); "
                "FEEDBACKBOT_<SECTION>__<KEY> overrides it.",
            ),
        ] = None,
        _version: Annotated[
            bool,
            typer.Option("--version", callback=show_version, is_eager=True, help="Show the version and exit."),
        ] = False,
    ) -> None:
        """Start with `make run`; see README.md for configuration, surveys and channels."""
        ctx.obj = Invocation(config, settings_model)

    app.add_typer(channel_commands)
    app.add_typer(core_commands)
    return app


def fail(message: str) -> NoReturn:
    """One line on stderr naming the problem, and exit status 2."""
    typer.echo(f"feedbackbot: {message}", err=True)
    raise typer.Exit(2)


def settings_of(ctx: typer.Context, log_level: int = logging.WARNING) -> Settings:
    """The settings (a file named with --config must exist), with logging set up: `log_level` unless
    [logging] level says otherwise."""
    invocation: Invocation = ctx.obj
    given, model = invocation.config, invocation.settings_model
    for warning in unknown_variables(os.environ, model):
        typer.echo(f"feedbackbot: warning: {warning}", err=True)
    try:
        settings = load_settings(given or DEFAULT_CONFIG, required=given is not None, model=model)
    except ConfigError as error:
        fail(str(error))
    setup_logging(settings, log_level)
    return settings


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine, turning configuration problems into one line and Ctrl-C into a quiet exit."""
    try:
        return asyncio.run(work())
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None


@contextlib.asynccontextmanager
async def current_database(settings: Settings) -> AsyncIterator[Database]:
    """The database at the newest schema, closed when the command's work is done."""
    database = await open_current_database(settings)
    try:
        yield database
    finally:
        await database.close()


def setup_logging(settings: Settings, default_level: int) -> None:
    """Log lines on stderr, as text or JSON ([logging] format), each with the correlation id of what was being
    handled, none with a secret in it."""
    level = logging.getLevelNamesMapping()[settings.logging.level] if settings.logging.level else default_level
    stderr = logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=level, handlers=[stderr])  # changes nothing where logging was set up before
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for chatty in ("httpx", "httpcore"):  # a line per request, with its URL; all of it at DEBUG
        logging.getLogger(chatty).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    correlation.install()
    redactor = logsafety.install(settings.secret_values())
    stderr.setFormatter(logformat.formatter(settings.logging.format, redactor.redact))


@core_commands.command()
def export(
    ctx: typer.Context,
    export_format: Annotated[ExportFormat, typer.Option("--format", help="csv (with a header) or jsonl.")] = (
        ExportFormat.CSV
    ),
    since: Annotated[
        datetime | None, typer.Option(help="Only answers given at or after this UTC date or time.")
    ] = None,
    survey: Annotated[str | None, typer.Option(help="Only answers to this survey.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export every answer, one row each, streamed (any number of rows fits in memory)."""
    settings = settings_of(ctx)
    since_utc = _utc(since)

    async def work() -> int:
        async with current_database(settings) as database:
            with open_output(output) if output else contextlib.nullcontext(sys.stdout) as out:  # stdout stays open
                return await export_answers(
                    database, out, export_format=export_format, since=since_utc, survey_id=survey
                )

    rows = run_async(work)
    known = sorted(path.stem for path in settings.surveys.dir.glob("*.toml"))
    if rows == 0 and survey is not None and survey not in known:  # a retired survey still exports its answers
        fail(f"--survey: no survey {survey!r}; available: {', '.join(known)}")
    if output:
        typer.echo(f"{rows} answers written to {output}", err=True)
    elif rows == 0:
        typer.echo("0 answers", err=True)


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"


DEFAULT_MIN_GROUP_SIZE = 5


@core_commands.command()
def report(
    ctx: typer.Context,
    since: Annotated[datetime | None, typer.Option(help="Only surveys started at or after this UTC date.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only surveys started before this UTC date.")] = None,
    survey: Annotated[str | None, typer.Option(help="Only this survey (default: every survey).")] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Split each survey by this, besides its total: channel, day, week, month, service, or the name of an"
            " invitation attribute (region, plan...).",
        ),
    ] = None,
    report_format: Annotated[
        ReportFormat,
        typer.Option("--format", help="text (tables), json (see README.md, Reports) or html (one page with charts)."),
    ] = ReportFormat.TEXT,
) -> None:
    """CSAT, NPS, CES, negative comments and cases per survey, with 95 % intervals; small anonymous groups hidden."""
    from rich.console import Console

    from bot.report_output import report_json, report_tables
    from bot.reports import Report, breakdown_of, build_report

    settings = settings_of(ctx)
    try:
        surveys = load_checked_surveys(settings)
    except ConfigError as error:
        fail(str(error))
    if survey is not None and survey not in surveys:
        fail(f"--survey: no survey {survey!r}; available: {', '.join(surveys)}")
    chosen = [surveys[survey]] if survey else list(surveys.values())
    try:
        breakdown = None if by is None else breakdown_of(by)
    except ValueError as error:
        fail(f"--by: {error}")

    async def work() -> Report:
        async with current_database(settings) as database:
            return await build_report(
                database,
                chosen,
                since=_utc(since),
                until=_utc(until),
                by=breakdown,
                min_group_size=min_group_size(settings),
            )

    built = run_async(work)
    if report_format == ReportFormat.JSON:
        typer.echo(report_json(built))
    elif report_format == ReportFormat.HTML:
        from bot.report_html import report_html  # plotly: about 80 ms that no other command should pay at start

        typer.echo(report_html(built))
    else:
        Console(width=None if sys.stdout.isatty() else REPORT_WIDTH).print(report_tables(built))


REPORT_WIDTH = 160  # when written to a file or a pipe: wide enough that no column wraps


def min_group_size(settings: Settings) -> int:
    """The strictest `min_group_size` any section sets ([slack] has one), so that the report hides at least what
    App Home hides."""
    sizes = [getattr(section, "min_group_size", None) for section in settings.sections().values()]
    return max((size for size in sizes if isinstance(size, int)), default=DEFAULT_MIN_GROUP_SIZE)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def open_output(path: Path) -> io.TextIOWrapper:
    try:
        return path.open("w", newline="", encoding="utf-8")
    except OSError as error:
        fail(f"--output: cannot write {path}: {error.strerror}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database to the latest schema (creates it on first use)."""
    settings = settings_of(ctx)

    async def work() -> SchemaChange:
        database = await open_database(settings)
        try:
            return await upgrade(database)
        finally:
            await database.close()

    change = run_async(work)
    engine = settings.storage.url.split("://")[0]
    if change.before is None:
        typer.echo(f"database schema created at revision {change.after} ({engine})")
    elif change.before == change.after:
        typer.echo(f"database schema is up to date at revision {change.after} ({engine})")
    else:
        typer.echo(f"database schema upgraded from revision {change.before} to {change.after} ({engine})")


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The backup file to write.", dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Copy the SQLite database to FILE, consistent even while the bot writes (SQLite's online backup)."""
    settings = settings_of(ctx)
    url = make_url(settings.storage.url)
    if url.get_backend_name() != "sqlite":
        fail("[storage] url: db backup copies SQLite files; back up PostgreSQL with pg_dump (see README.md)")
    source = Path(url.database or "")
    try:
        size = backup_sqlite(source, file, overwrite=force)
    except BackupError as error:
        fail(str(error))
    typer.echo(f"backup of {source} written to {file} ({size} bytes)")


@surveys_app.command("check")
def surveys_check(ctx: typer.Context) -> None:
    """Validate every survey file; each broken one is named with its question and problem."""
    settings = settings_of(ctx)
    problems = check_surveys(settings.surveys.dir)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    try:
        surveys = load_checked_surveys(settings)
    except ConfigError as error:
        fail(str(error))
    typer.echo(f"{len(surveys)} surveys OK: {', '.join(surveys)}")


@core_commands.command()
def score(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="Texts, one per line; default: standard input.", exists=True, dir_okay=False),
    ] = None,
    language: Annotated[str | None, typer.Option(help="Language code of the texts, when known.")] = None,
) -> None:
    """Score texts as the bot does for escalation: one JSON object per line (polarity, label, complaint)."""
    from bot.sentiment.scoring import score_text

    settings = settings_of(ctx)
    analyzer = make_analyzer(settings.sentiment.analyzer, settings.sentiment.complaint_threshold)
    source = file.open("rb") if file else sys.stdin.buffer
    # Any line ending ends a line; bytes that are not UTF-8 are kept aside (surrogateescape) to be reported.
    with io.TextIOWrapper(source, encoding="utf-8", errors="surrogateescape", newline=None) as lines:
        for number, line in enumerate(lines, start=1):
            text = _readable(line.rstrip("\n"), number)
            typer.echo(json.dumps(score_text(analyzer, text, language), ensure_ascii=False))


def _readable(line: str, number: int) -> str:
    """The line, with bytes that were not UTF-8 replaced (and said), so that every line still gets its answer."""
    readable = line.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    if readable != line:
        typer.echo(f"line {number}: not UTF-8 text; the unreadable bytes were replaced", err=True)
    return readable


@cases_app.command("list")
def cases_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only cases in this status (new, acknowledged, ...).")] = None,
    overdue: Annotated[bool, typer.Option(help="Only open cases past their time to acknowledge or resolve.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """List complaint cases: number, status, priority, category, age and the customer's first words."""
    settings = settings_of(ctx)
    statuses = [status.value for status in CaseStatus]
    if status is not None and status not in statuses:
        fail(f"--status: no status {status!r}; one of {', '.join(statuses)}")

    async def work() -> list[CaseView]:
        async with current_database(settings) as database, database.snapshot() as session:
            overdue_at = utcnow() if overdue else None
            chosen = CaseStatus(status) if status else None
            return await views.list_cases(session, status=chosen, overdue_at=overdue_at, limit=limit)

    cases = run_async(work)
    if not cases:
        typer.echo("no cases", err=True)
    for case in cases:
        words = (case.text or "").replace("\n", " ")[:60]
        typer.echo(
            f"#{case.id:<5} {case.status:<12} {case.priority:<7} {case.category or '-':<10} "
            f"{case.created_at:%Y-%m-%d %H:%M}  {case.survey_id or 'direct':<16} {words}"
        )


@pulses_app.command("list")
def pulses_list(ctx: typer.Context) -> None:
    """List the pulses: name, survey, cron and zone, next due time (in the pulse's zone), last run (UTC) and a run
    in progress or waiting to be taken up again."""
    settings = settings_of(ctx)

    async def work() -> list[PlannedPulse]:
        async with current_database(settings) as database:
            return await planned(database, settings.pulses, utcnow())

    pulses = run_async(work)
    if not pulses:
        typer.echo("no pulses configured ([[pulses]] in the configuration file)", err=True)
    for pulse, next_due, last_run, unfinished in pulses:
        due = f"{next_due.astimezone(pulse.zone):%Y-%m-%d %H:%M %Z}" if pulse.enabled else "disabled"
        ran = f"{last_run:%Y-%m-%d %H:%M} UTC" if last_run else "never"
        running = f", run of {unfinished.astimezone(pulse.zone):%Y-%m-%d %H:%M %Z} unfinished" if unfinished else ""
        typer.echo(
            f"{pulse.name:<16} {pulse.survey:<16} {pulse.cron:<16} {pulse.timezone:<18} next {due:<22} last {ran}"
            + running
        )


@pulses_app.command("rerun")
def pulses_rerun(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The pulse's name.")]) -> None:
    """Make a pulse due again at its latest time: the running bot runs it within a minute, inviting only whoever
    that time's run did not invite (as after a crash cut a run short)."""
    settings = settings_of(ctx)
    pulse = next((pulse for pulse in settings.pulses if pulse.name == name), None)
    if pulse is None:
        fail(f"no pulse {name!r}; the pulses are {', '.join(p.name for p in settings.pulses) or 'none'}")
    if not pulse.enabled:
        fail(f"pulse {name} is disabled (enabled = false): the bot would not run it")

    async def work() -> datetime:
        async with current_database(settings) as database:
            return await due_again(database, pulse, utcnow())

    latest = run_async(work)
    typer.echo(f"pulse {name} due again for its time {latest.astimezone(pulse.zone):%Y-%m-%d %H:%M %Z}", err=True)


@cases_app.command("show")
def cases_show(ctx: typer.Context, number: Annotated[int, typer.Argument(help="The case number.")]) -> None:
    """Show one case in full, with its audit trail."""
    settings = settings_of(ctx)

    async def work() -> tuple[CaseView, str | None, list[TrailLine]] | None:
        async with current_database(settings) as database:
            async with database.snapshot() as session:
                case = await views.get_case(session, case_id=number)
                trail = await views.case_trail(session, case_id=number)
            if case is None:
                return None
            return case, await Cases(database, CaseDesk(settings.cases)).answers_of(case), trail

    shown = run_async(work)
    if shown is None:
        fail(f"no case #{number}")
    case, answers, trail = shown
    typer.echo(alert_text(case, answers).replace("New complaint", "Complaint", 1))
    for label, value in (
        ("Status", case.status),
        ("Assignee", case.assignee),
        ("Acknowledge by", case.due_ack_at),
        ("Resolve by", case.due_resolve_at),
        ("Corrective action", case.corrective_action),
        ("Root cause", case.root_cause),
    ):
        if value is not None:
            typer.echo(f"{label}: {value:%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else f"{label}: {value}")
    typer.echo("Trail:")
    for line in trail:
        typer.echo(
            f"  {line.at:%Y-%m-%d %H:%M} {line.actor}: {line.action}" + (f" ({line.detail})" if line.detail else "")
        )


@webhooks_app.command("failed")
def webhooks_failed(
    ctx: typer.Context, limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 100
) -> None:
    """List webhook deliveries that failed for good: number, webhook, event, event id, attempts, last error."""
    settings = settings_of(ctx)

    async def work() -> list[FailedDelivery]:
        async with current_database(settings) as database, database.snapshot() as session:
            return await failed_deliveries(session, channel_prefix=CHANNEL_PREFIX, limit=limit)

    failed = run_async(work)
    if not failed:
        typer.echo("no failed webhook deliveries", err=True)
    for delivery in failed:
        event = json.loads(delivery.payload)
        typer.echo(
            f"#{delivery.id:<6} {webhook_of(delivery.channel) or delivery.channel:<12} {event.get('type', '?'):<19}"
            f"{event.get('event_id', '?')}  {delivery.created_at:%Y-%m-%d %H:%M}  {delivery.attempts} attempts  "
            f"{delivery.last_error or ''}"
        )


@webhooks_app.command("retry")
def webhooks_retry(
    ctx: typer.Context,
    numbers: Annotated[list[int] | None, typer.Argument(help="The deliveries' numbers (webhooks failed).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every failed delivery.")] = False,
) -> None:
    """Send failed webhook deliveries again, with their attempts counted afresh, when `feedbackbot run` next looks."""
    if bool(numbers) == every:
        fail("name the deliveries to send again, or --all")
    settings = settings_of(ctx)

    async def work() -> int:
        async with current_database(settings) as database, database.transaction() as session:
            ids = None if every else numbers
            return await retry_deliveries(session, channel_prefix=CHANNEL_PREFIX, ids=ids, now=utcnow())

    queued = run_async(work)
    typer.echo(f"{queued} webhook deliveries queued again")
    if numbers and queued < len(numbers):
        fail(f"{len(numbers) - queued} of the numbers named no failed webhook delivery")


PersonArgument = Annotated[str, typer.Argument(metavar="CHANNEL:ID", help="The person: channel and platform id.")]
ANONYMOUS_NOTE = "Answers given anonymously are not linked to the person and are not exported."
FORGOTTEN_NOTE = "Their scores stay only in anonymous totals."


def respondent_of(person: str) -> Respondent:
    channel, _, user_id = person.partition(":")
    if not channel or not user_id:
        fail(f"{person!r}: name the person as CHANNEL:ID, e.g. telegram:123456")
    return Respondent(channel=channel, user_id=user_id)


async def _record_of(session: AsyncSession, keys: PrivacyKeys, who: Respondent) -> PersonRecord | None:
    return await person_record(
        session, channel=who.channel, platform_id=who.user_id, respondent_key=keys.respondent_key(who)
    )


def _audit(session: AsyncSession, action: str, subject: str, record: PersonRecord) -> None:
    """The request on the audit log: who ran it and what it counted, never the person's id or words."""
    record_request(session, actor=getpass.getuser(), action=action, subject=subject, counts=record.counts())


@person_app.command("export")
def person_export(ctx: typer.Context, person: PersonArgument) -> None:
    """Print as JSON everything held about a person; the request is audited, without the data."""
    settings = settings_of(ctx)
    who, keys = respondent_of(person), PrivacyKeys(settings.respondent_hash_key)

    async def work() -> PersonRecord | None:
        async with current_database(settings) as database, database.transaction() as session:
            record = await _record_of(session, keys, who)
            if record is not None:
                _audit(session, "person.export", keys.respondent_key(who), record)
            return record

    record = run_async(work)
    if record is None:
        unknown_person(person)
    exported = asdict(record) | {"note": ANONYMOUS_NOTE}
    typer.echo(json.dumps(exported, ensure_ascii=False, indent=2, default=datetime.isoformat))


@person_app.command("forget")
def person_forget(
    ctx: typer.Context,
    person: PersonArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a person's data exactly as their own /forget does; their scores stay only in anonymous totals."""
    settings = settings_of(ctx)
    who, keys = respondent_of(person), PrivacyKeys(settings.respondent_hash_key)
    if not yes:
        typer.confirm(f"Erase everything held about {person}?", abort=True, err=True)

    async def work() -> dict[str, int] | None:
        async with current_database(settings) as database:
            async with database.transaction() as session:
                record = await _record_of(session, keys, who)
                if record is None:
                    return None
                await People(database, keys).forget(session, who)
                _audit(session, "person.forget", keys.respondent_key(who), record)
            await database.scrub()  # as /forget does: no old copy of the erased rows stays in SQLite's files
            return record.counts()

    counts = run_async(work)
    if counts is None:
        unknown_person(person)
    typer.echo(f"erased {person}: " + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items()))
    typer.echo(FORGOTTEN_NOTE)


def unknown_person(person: str) -> NoReturn:
    typer.echo(f"feedbackbot: no person {person}", err=True)
    raise typer.Exit(1)


@core_commands.command()
def link(
    ctx: typer.Context,
    survey: Annotated[str, typer.Option(help="The survey the link starts.")],
    ref: Annotated[str | None, typer.Option(help="The order or ticket number the answers are tied to.")] = None,
    attr: Annotated[
        list[str] | None, typer.Option(metavar="NAME=VALUE", help="An attribute of the answers (repeat for more).")
    ] = None,
    qr: Annotated[Path | None, typer.Option(help="Also write the link as a QR code to this PNG file.")] = None,
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="The link opens nothing after this many days.")
    ] = None,
) -> None:
    """Make a link to a survey for a receipt, an e-mail or packaging, and print it (Telegram's deep link). The
    link carries only a short signed token; the reference and attributes stay in the database."""
    settings = settings_of(ctx)
    attributes = attribute_pairs(attr or [])
    if qr is not None and settings.start_link("") is None:
        fail("--qr: a QR code needs the link's address; set [telegram] username (FEEDBACKBOT_TELEGRAM__USERNAME)")
    try:
        catalogue = SurveyCatalogue(load_checked_surveys(settings))
    except ConfigError as error:
        fail(str(error))
    expires_in = timedelta(days=expires_days) if expires_days else None
    request = LinkRequest(survey, ref, attributes, expires_in)

    async def work() -> LinkView:
        async with current_database(settings) as database:
            links = Links(database, catalogue, settings.respondent_hash_key, settings.start_link, utcnow)
            return await links.create(request, created_by=getpass.getuser())

    try:
        made = run_async(work)
    except LinkRefused as refused:
        fail(f"--{OPTION_OF_FIELD[refused.field]}: {refused.reason}")
    url = settings.start_link(made.token)
    if url is None:
        typer.echo(made.token)
        typer.echo(
            "feedbackbot: no [telegram] username configured: the link is https://t.me/BOT_USERNAME?start="
            + made.token
            + "; set [telegram] username (FEEDBACKBOT_TELEGRAM__USERNAME) to print it whole",
            err=True,
        )
        return
    typer.echo(url)
    if qr is not None:
        write_qr(qr, url)
    if made.expires_at is not None:
        typer.echo(f"expires {made.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


OPTION_OF_FIELD = {"survey": "survey", "reference": "ref", "attributes": "attr"}


def attribute_pairs(given: list[str]) -> dict[str, str]:
    """`region=north` pairs; one without `=` is refused."""
    pairs = [item.partition("=") for item in given]
    if any(not name or not equals for name, equals, _ in pairs):
        fail("--attr: write each as NAME=VALUE, e.g. --attr region=north")
    return {name: value for name, _, value in pairs}


def write_qr(path: Path, url: str) -> None:
    try:
        path.write_bytes(qr_png(url))
    except OSError as error:
        fail(f"--qr: cannot write {path}: {error.strerror}")
    typer.echo(f"QR code written to {path}", err=True)


@core_commands.command()
def digest(
    ctx: typer.Context,
    preview: Annotated[bool, typer.Option("--preview", help="Print the digest instead of queueing it.")] = False,
    png: Annotated[Path | None, typer.Option("--png", help="Also write its chart to this PNG file.")] = None,
) -> None:
    """The weekly digest of the last 7 days, now: queued for the staff destinations (the running bot sends it), or
    printed with --preview. The schedule is left as it is."""
    from bot.digest import build_content, chart_png, destinations, digest_text, queue

    settings = settings_of(ctx)
    try:
        surveys = load_checked_surveys(settings)
        targets = {} if preview else destinations(settings)
    except ConfigError as error:
        fail(str(error))
    if not preview and not targets:
        fail("no staff destination: set [digest] destinations or a channel's staff chat or channel")

    async def work() -> tuple[str, bytes]:
        async with current_database(settings) as database:
            now = utcnow()
            content = await build_content(
                database, surveys.values(), settings.digest, until=now, min_group_size=min_group_size(settings)
            )
            chart = await chart_png(content)
            if not preview:
                async with database.transaction() as session:
                    queue(session, targets, content, chart, now)
            return digest_text(content), chart

    text, chart = run_async(work)
    if png is not None:
        try:
            png.write_bytes(chart)
        except OSError as error:
            fail(f"--png: cannot write {png}: {error.strerror}")
    if preview:
        typer.echo(text)
    else:
        typer.echo("digest queued for " + ", ".join(f"{channel} {target}" for channel, target in targets.items()))


@campaign_app.command("send")
def campaign_send(
    ctx: typer.Context,
    survey: Annotated[str, typer.Option(help="The survey to invite to.")],
    recipients: Annotated[
        Path,
        typer.Option(
            help="CSV file: channel and platform_id (or person_id), optional reference, any other column an attribute.",
            exists=True,
            dir_okay=False,
        ),
    ],
    name: Annotated[str | None, typer.Option(help="The campaign's name (default: the file's name).")] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            min=MIN_RATE,
            help="Invitations per second at most (default: the campaign's, or [invitations] campaign_rate).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; print what would happen.")] = False,
) -> None:
    """Write an invitation for every recipient; the running bot sends them at the campaign's rate. Run it again
    after a crash or Ctrl-C: nobody is invited twice, the rest are written."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress

    settings = settings_of(ctx)
    campaign_name = name or recipients.stem
    if not 1 <= len(campaign_name) <= 64:
        fail("--name: 1 to 64 characters")
    try:
        rows, invalid = read_recipients(recipients)
    except RecipientsError as error:
        fail(f"--recipients: {error}")
    plan = CampaignPlan(campaign_name, survey, rate, recipients.name, getpass.getuser(), dry_run)
    console = Console(stderr=True)

    async def work() -> Summary:
        core = await open_core(settings)
        try:
            campaigns = Campaigns(core.database, core.invitations, settings.invitations.campaign_rate, utcnow)
            run = await campaigns.start(plan)
            with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=console) as bar:
                task = bar.add_task("dry run" if dry_run else f"writing {campaign_name}", total=len(rows))
                return await campaigns.send(run, rows, progress=lambda: bar.advance(task))
        except CampaignError as error:
            fail(str(error))
        finally:
            await core.close()

    try:
        summary = run_async(work)
    except typer.Exit as stopped:
        if stopped.exit_code == INTERRUPTED:
            typer.echo("interrupted: run the same command again to write the rest; nobody is invited twice", err=True)
        raise
    summary.invalid = sorted([*invalid, *summary.invalid], key=lambda row: row.line)  # the file's, then the core's
    for line in summary_lines(summary, dry_run):
        typer.echo(line)
    if not dry_run:
        typer.echo(f"the running bot sends them; see `feedbackbot campaign status {campaign_name}`")
    if summary.failed or summary.invalid:
        raise typer.Exit(1)


@campaign_app.command("status")
def campaign_status(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The campaign's name.")]) -> None:
    """Show a campaign's funnel: skipped (by rule), invited, waiting, delivered, started, completed, failed."""
    settings = settings_of(ctx)

    async def work() -> tuple[CampaignView, Funnel] | None:
        async with current_database(settings) as database:
            return await campaign_funnel(database, name)

    shown = run_async(work)
    if shown is None:
        typer.echo(f"feedbackbot: no campaign {name!r}", err=True)
        raise typer.Exit(1)
    for line in funnel_lines(*shown):
        typer.echo(line)


@campaign_app.command("list")
def campaign_list(ctx: typer.Context) -> None:
    """List the campaigns, newest first, with their funnels."""
    settings = settings_of(ctx)

    async def work() -> list[tuple[CampaignView, Funnel]]:
        async with current_database(settings) as database:
            return await every_campaign(database)

    campaigns = run_async(work)
    if not campaigns:
        typer.echo("no campaigns", err=True)
    for campaign, funnel in campaigns:
        typer.echo(
            f"{campaign.name:<24} {campaign.survey_id:<12} {campaign.created_at:%Y-%m-%d %H:%M}  "
            f"invited {funnel.invited}, delivered {funnel.delivered}, completed {funnel.completed}"
        )
