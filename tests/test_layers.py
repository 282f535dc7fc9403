"""The dependency rule: the core knows no channel, storage knows neither, and channels do not know each other."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.conftest import ROOT

# The chat platforms' SDKs and the HTTP server live at the edges, in handlers/.
PLATFORM_SDKS = ("telegram", "slack_bolt", "slack_sdk", "fastapi", "starlette", "uvicorn")
# The one exception: the Channel protocol names the type of the routes a channel hands to the one HTTP server.
ALLOWED = {"bot.channels": "starlette.routing"}


def imported_modules(path: Path, module: str) -> Iterator[tuple[int, list[str]]]:
    """Every import in `path`, anywhere in it (functions too), as (line, absolute names it may load):
    `from a import b` may load `a` and `a.b`, since b may be a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""  # `from ..x` is relative
            source = ".".join(part for part in (base, node.module) if part)
            yield node.lineno, [source, *(f"{source}.{alias.name}" for alias in node.names)]


def forbidden_for(module: str, channels: list[str]) -> tuple[tuple[str, ...], str]:
    """The modules `module` may not import, and the rule that says so."""
    top = module.split(".")[0]
    if top == "bot":
        return ("handlers", *PLATFORM_SDKS), "bot/ never imports handlers/ or a platform SDK"
    if top == "storage":
        return ("bot", "handlers", *PLATFORM_SDKS), "storage/ imports neither bot/, handlers/ nor a platform SDK"
    own = next((channel for channel in channels if module == channel or module.startswith(f"{channel}.")), None)
    if own is not None:
        others = tuple(channel for channel in channels if channel != own)
        return others, "one channel never imports another"
    return (), ""


def within(name: str, packages: Iterable[str]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages if package)


def layer_violations(root: Path) -> list[str]:
    """Each import under `root` that breaks the dependency rule, as 'file:line imports module (rule)'."""
    channels = sorted(f"handlers.{init.parent.name}" for init in root.glob("handlers/*/__init__.py"))
    violations = []
    for path in sorted(path for top in ("bot", "storage", "handlers") for path in (root / top).rglob("*.py")):
        relative = path.relative_to(root)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        forbidden, rule = forbidden_for(module, channels)
        for line, loaded in imported_modules(path, module):
            broken = [
                name for name in loaded if within(name, forbidden) and not within(name, [ALLOWED.get(module, "")])
            ]
            if broken:
                violations.append(f"{relative}:{line} imports {broken[0]} ({rule})")
    return violations


def test_the_code_keeps_the_dependency_rule() -> None:
    assert layer_violations(ROOT) == []


def test_the_check_finds_each_kind_of_violation_even_inside_a_function(tmp_path: Path) -> None:
    files = {
        "bot/__init__.py": "",
        "bot/cli.py": "import typer\n\n\ndef run() -> None:\n    from handlers.runner import serve\n",
        "bot/alerts.py": "import telegram.constants\nfrom bot import cli\n",
        "bot/channels.py": "from starlette.routing import BaseRoute\n",
        "bot/web.py": "from starlette.routing import Route\n",
        "storage/__init__.py": "",
        "storage/queries.py": "from bot.config import Settings\nfrom sqlalchemy import select\n",
        "handlers/__init__.py": "",
        "handlers/runner.py": "from handlers.slack import SlackChannel\nfrom handlers import telegram\n",
        "handlers/slack/__init__.py": "from handlers import web\nfrom handlers.slack import blocks\n",
        "handlers/slack/blocks.py": "",
        "handlers/telegram/__init__.py": "",
        "handlers/telegram/render.py": "from ..slack import blocks\nfrom handlers import console\n",
        "handlers/console/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")

    assert layer_violations(tmp_path) == [
        "bot/alerts.py:1 imports telegram.constants (bot/ never imports handlers/ or a platform SDK)",
        "bot/cli.py:5 imports handlers.runner (bot/ never imports handlers/ or a platform SDK)",
        "bot/web.py:1 imports starlette.routing (bot/ never imports handlers/ or a platform SDK)",
        "handlers/telegram/render.py:1 imports handlers.slack (one channel never imports another)",
        "handlers/telegram/render.py:2 imports handlers.console (one channel never imports another)",
        "storage/queries.py:1 imports bot.config (storage/ imports neither bot/, handlers/ nor a platform SDK)",
    ]
