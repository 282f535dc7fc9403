"""SQL lives in storage/; the edges read what they show through storage/'s read models, never through table rows."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlmodel import SQLModel

from storage import models
from tests.conftest import ROOT

# What code outside storage/ may take from SQLAlchemy and SQLModel: its errors, URL parsing, the session's type.
NOT_SQL = ("sqlalchemy.exc.", "sqlalchemy.engine.make_url", "sqlmodel.ext.asyncio.session.AsyncSession")
# What a session does that reads or writes rows.
SESSION_WORK = {"exec", "execute", "stream", "scalar", "scalars", "get", "add", "add_all", "delete", "merge", "flush"}
TABLES = {name for name, value in vars(models).items() if isinstance(value, type) and issubclass(value, SQLModel)}


def sql_outside_storage(path: Path) -> Iterator[str]:
    """Each line of `path` that builds a statement or works a session, as 'line: what'."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("sqlalchemy", "sqlmodel"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            yield from (f"{node.lineno}: imports {name}" for name in names if not name.startswith(NOT_SQL))
        elif isinstance(node, ast.Import):
            sql = [alias.name for alias in node.names if alias.name.split(".")[0] in ("sqlalchemy", "sqlmodel")]
            yield from (f"{node.lineno}: imports {name}" for name in sql)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_WORK
            and ast.unparse(node.func.value).endswith("session")
        ):
            yield f"{node.lineno}: calls {ast.unparse(node.func)}"


def rows_at_the_edge(path: Path) -> Iterator[str]:
    """Each import of a table model in `path`, as 'line: what'."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "storage.models":
            yield from (f"{node.lineno}: imports {alias.name}" for alias in node.names if alias.name in TABLES)


def findings(root: Path, tops: tuple[str, ...], check: Callable[[Path], Iterator[str]]) -> list[str]:
    """What `check` finds in every module under the `tops` folders of `root`."""
    return [
        f"{path.relative_to(root)}:{finding}"
        for top in tops
        for path in sorted((root / top).rglob("*.py"))
        for finding in check(path)
    ]


def test_no_statement_is_built_and_no_session_worked_outside_storage() -> None:
    assert findings(ROOT, ("bot", "handlers"), sql_outside_storage) == []


def test_the_edges_show_read_models_not_table_rows() -> None:
    assert findings(ROOT, ("handlers",), rows_at_the_edge) == []


def test_the_checks_find_statements_sessions_and_rows(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "bot" / "report.py").write_text(
        "from sqlalchemy.exc import IntegrityError\n"
        "from sqlmodel import select\n"
        "import sqlalchemy.orm\n"
        "async def report(self) -> None:\n"
        "    await self.session.exec(select(1))\n"
        "    {}.get('not a session')\n",
        encoding="utf-8",
    )
    (tmp_path / "handlers" / "home.py").write_text(
        "from storage.models import CaseStatus, Complaint\nfrom storage.views import CaseView\n", encoding="utf-8"
    )

    assert findings(tmp_path, ("bot", "handlers"), sql_outside_storage) == [
        "bot/report.py:2: imports sqlmodel.select",
        "bot/report.py:3: imports sqlalchemy.orm",
        "bot/report.py:5: calls self.session.exec",
    ]
    assert findings(tmp_path, ("handlers",), rows_at_the_edge) == ["handlers/home.py:1: imports Complaint"]
