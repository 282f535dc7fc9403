"""`feedbackbot run` serves the API only when keys are configured, and imports FastAPI only then; the server times
the API's requests by their route's template."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from bot.app import Core
from handlers.api.app import build_api
from handlers.metrics import Metrics
from handlers.web import create_app
from tests.conftest import run_to_its_end
from tests.handlers.api.conftest import CRM
from tests.handlers.scrape import samples_of

RUN = "import sys; from handlers.cli import app; sys.argv = ['feedbackbot', 'run']; app()"


def imported_on_run(folder: Path, database_url: str, **settings: str) -> set[str]:
    """The top-level packages `feedbackbot run` imports, with the terminal channel reading an empty stdin."""
    process = run_to_its_end(folder, database_url, [sys.executable, "-X", "importtime", "-c", RUN], **settings)
    assert process.returncode == 0, process.stderr
    lines = [line.rpartition("|")[2].strip() for line in process.stderr.splitlines() if line.startswith("import time:")]
    return {name.split(".")[0] for name in lines}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_without_api_keys_does_not_import_fastapi(tmp_path: Path, database_url: str) -> None:
    assert "fastapi" not in imported_on_run(tmp_path, database_url)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_with_an_api_key_serves_the_api(tmp_path: Path, database_url: str) -> None:
    assert "fastapi" in imported_on_run(tmp_path, database_url, FEEDBACKBOT_API__KEYS__CRM="crm-secret-0123456789")


async def test_api_requests_are_timed_by_the_template_of_the_api_route(core: Core) -> None:
    metrics = Metrics(core.database)
    app = create_app(core.database, api=build_api(core), metrics=metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        await client.get("/api/v1/invitations/42", headers=CRM)
        await client.get("/api/v1/nothing", headers=CRM)
        exposition = (await client.get("/metrics")).text
    timed = {
        labels: count
        for (name, labels), count in samples_of(exposition).items()
        if name == "feedbackbot_http_request_seconds_count" and ("route", "/metrics") not in labels
    }
    assert timed == {
        (("method", "GET"), ("route", "/api/v1/invitations/{invitation_id}"), ("status", "404")): 1,
        (("method", "GET"), ("route", "unrouted"), ("status", "404")): 1,
    }
