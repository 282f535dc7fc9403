"""The `feedbackbot` executable: imports the command line with the garbage collector off, then runs it."""

from __future__ import annotations

import gc


def main() -> None:
    """Runs the command line. Importing it makes some 180,000 objects (modules, classes, SQLAlchemy's and pydantic's
    models) that live as long as the process: the collector would walk them all in full collections while they pile
    up, and once more at exit, about a third of a second of CPU per command. Frozen once imported, no collection
    walks them again."""
    gc.disable()
    from handlers.cli import app

    gc.freeze()
    gc.enable()
    app()
