"""The `feedbackbot` command line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.app import load_checked_surveys, open_core, open_database
from bot.cases import alert_text
from bot.config import ConfigError, Settings, load_settings
from bot.export import ExportFormat, export_answers
from bot.sentiment import make_analyzer
from bot.surveys import check_surveys
from storage import queries
from storage.migrate import upgrade
from storage.models import CaseEvent, Complaint
from storage.types import utcnow

DEFAULT_CONFIG = Path("config.toml")
T = TypeVar("T")

app = typer.Typer(
    help="feedbackbot: collects customer feedback in chat and turns complaints into fixed problems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
surveys_app = typer.Typer(help="Work with the survey files.", no_args_is_help=True)
cases_app = typer.Typer(help="Look at complaint cases.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(surveys_app, name="surveys")
app.add_typer(cases_app, name="cases")


def fail(message: str) -> NoReturn:
    """One line on stderr naming the problem, and exit status 2."""
    typer.echo(f"feedbackbot: {message}", err=True)
    raise typer.Exit(2)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="TOML configuration file; FEEDBACKBOT_<SECTION>__<KEY> overrides it.")
    ] = DEFAULT_CONFIG,
) -> None:
    """Start with `make run`; see README.md for configuration, surveys and channels."""
    ctx.obj = config


def settings_of(ctx: typer.Context) -> Settings:
    path: Path = ctx.obj
    try:
        return load_settings(path, required=path != DEFAULT_CONFIG)
    except ConfigError as error:
        fail(str(error))


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine, turning configuration problems into one line and Ctrl-C into a quiet exit."""
    try:
        return asyncio.run(work())
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def setup_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the bot: the HTTP server, the configured chat channels, or the terminal channel when none is set."""
    settings = settings_of(ctx)
    setup_logging(logging.INFO)
    from handlers.runner import serve  # the edges load only when the bot runs

    async def work() -> None:
        core = await open_core(settings)
        try:
            await serve(core)
        finally:
            await core.close()

    run_async(work)


@app.command()
def console(
    ctx: typer.Context,
    survey: Annotated[str | None, typer.Option(help="Survey to start with; default: [surveys] default.")] = None,
) -> None:
    """Take surveys in this terminal as a customer would; typed answers, numbered options."""
    settings = settings_of(ctx)
    setup_logging(logging.WARNING)
    from handlers.console import ConsoleChannel, stdin_lines

    async def work() -> None:
        core = await open_core(settings)
        first = survey or settings.surveys.default
        if first not in core.surveys:
            await core.close()
            fail(f"--survey: no survey {first!r}; available: {', '.join(core.surveys)}")
        try:
            await ConsoleChannel(core.engine, first_survey=first, out=sys.stdout).run(stdin_lines())
        finally:
            await core.close()

    run_async(work)


@app.command()
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
    since_utc = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since

    async def work() -> int:
        database = await open_database(settings)
        try:
            with output.open("w", newline="", encoding="utf-8") if output else sys.stdout as out:
                return await export_answers(
                    database, out, export_format=export_format, since=since_utc, survey_id=survey
                )
        finally:
            await database.close()

    rows = run_async(work)
    if output:
        typer.echo(f"{rows} answers written to {output}", err=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database to the latest schema (creates it on first use)."""
    settings = settings_of(ctx)

    async def work() -> None:
        database = await open_database(settings)
        try:
            await upgrade(database)
        finally:
            await database.close()

    run_async(work)
    typer.echo(f"database schema is up to date ({settings.storage.url.split('://')[0]})")


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


@app.command()
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

    async def work() -> list[Complaint]:
        database = await open_database(settings)
        try:
            async with database.snapshot() as session:
                overdue_at = utcnow() if overdue else None
                return await queries.list_cases(session, status=status, overdue_at=overdue_at, limit=limit)
        finally:
            await database.close()

    for case in run_async(work):
        words = (case.text or "").replace("\n", " ")[:60]
        typer.echo(
            f"#{case.id:<5} {case.status:<12} {case.priority:<7} {case.category or '-':<10} "
            f"{case.created_at:%Y-%m-%d %H:%M}  {case.survey_id or 'direct':<16} {words}"
        )


@cases_app.command("show")
def cases_show(ctx: typer.Context, number: Annotated[int, typer.Argument(help="The case number.")]) -> None:
    """Show one case in full, with its audit trail."""
    settings = settings_of(ctx)

    async def work() -> tuple[Complaint | None, list[CaseEvent]]:
        database = await open_database(settings)
        try:
            async with database.snapshot() as session:
                return await session.get(Complaint, number), await queries.case_events(session, case_id=number)
        finally:
            await database.close()

    case, events = run_async(work)
    if case is None:
        fail(f"no case #{number}")
    typer.echo(alert_text(case).replace("New complaint", "Complaint", 1))
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
    for event in events:
        typer.echo(
            f"  {event.at:%Y-%m-%d %H:%M} {event.actor}: {event.action}"
            + (f" ({event.detail})" if event.detail else "")
        )
