"""The `feedbackbot` command line: the core's commands and the ones that start channels, which only here may
import handlers/."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from bot.app import open_core
from bot.cli import command_line, fail, run_async, settings_of
from handlers.registry import settings_model

channel_commands = typer.Typer()


@channel_commands.command()
def run(ctx: typer.Context) -> None:
    """Run the bot: the HTTP server, the configured chat channels, or the terminal channel when none is set."""
    settings = settings_of(ctx, logging.INFO)
    from handlers.runner import serve  # the chat SDKs load only when the bot runs

    async def work() -> None:
        core = await open_core(settings)
        try:
            await serve(core)
        finally:
            await core.close()

    run_async(work)


@channel_commands.command()
def console(
    ctx: typer.Context,
    survey: Annotated[str | None, typer.Option(help="Survey to start with; default: [surveys] default.")] = None,
) -> None:
    """Take surveys in this terminal as a customer would; typed answers, numbered options."""
    settings = settings_of(ctx)
    from handlers.console import ConsoleChannel, stdin_lines

    async def work() -> None:
        core = await open_core(settings)
        first = core.engine.catalogue.find(survey or settings.surveys.default)
        if first is None:
            await core.close()
            fail(f"--survey: no survey {survey!r}; available: {', '.join(core.surveys)}")
        try:
            await ConsoleChannel(core.engine, first_survey=first.id, out=sys.stdout).run(stdin_lines())
        finally:
            await core.close()

    run_async(work)


app = command_line(channel_commands, settings_model())
