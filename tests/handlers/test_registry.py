"""A channel is one folder and one registry line: the in-memory channel of tests/handlers/memory, registered here,
takes a survey over the bot's HTTP server and hears of the case it opened through the outbox dispatcher."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.app import open_core, staff_destinations
from bot.cases import StaffDestination
from bot.config import load_settings, unknown_variables
from bot.outbound import CaseAlert
from handlers.registry import CHANNELS, Registration, settings_model
from handlers.runner import running_channels
from handlers.web import create_app
from storage.models import Complaint
from tests.conftest import ROOT
from tests.handlers.memory import MemoryChannel, MemorySettings

REGISTRY = (*CHANNELS, Registration("memory", MemorySettings, MemoryChannel))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_registered_channel_takes_a_survey_and_hears_of_the_case_it_opened(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "{database_url}"\n[surveys]\ndir = "{ROOT / "surveys"}"\n[memory]\nenabled = true\n'
        "[telegram]\nmode = 'polling'\n[slack]\nmode = 'http'\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FEEDBACKBOT_MEMORY__STAFF_ROOM", "staff-room")
    model = settings_model(REGISTRY)
    assert unknown_variables({"FEEDBACKBOT_MEMORY__STAFF_ROOM": "staff-room"}, model) == []
    core = await open_core(load_settings(config, model=model))
    try:
        started = asyncio.Event()
        async with running_channels(core, REGISTRY, started) as channels:
            assert [channel.name for channel in channels] == ["memory"]  # Telegram and Slack are not configured
            memory = channels[0]
            assert isinstance(memory, MemoryChannel)
            routes = [route for channel in channels for route in channel.routes()]
            api = create_app(core.database, routes=routes, channels_started=started.is_set)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.text
                said = [
                    (await client.post("/memory/ann", content=line)).text
                    for line in ("/survey csat", "1", "The parcel never arrived")
                ]
            alert = await asyncio.wait_for(memory.alerts.get(), timeout=10)
        assert not memory.running
        assert not started.is_set()  # stopping: no longer ready
        async with core.database.snapshot() as session:
            case = (await session.exec(select(Complaint))).one()
    finally:
        await core.close()

    assert said[0].endswith("How satisfied are you with our service? [1 / 2 / 3 / 4 / 5]")
    assert "We're sorry. What went wrong?" in said[1]
    assert said[2].endswith("Thank you for your feedback!")
    assert alert == CaseAlert(case_id=case.id or 0, target="staff-room")


def test_a_channel_that_is_not_configured_is_not_imported() -> None:
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from handlers.cli import app\n"
        "from handlers.registry import settings_model\n"
        "from bot.config import load_settings\n"
        "settings = load_settings(Path(sys.argv[1]), model=settings_model())\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'slack_bolt', 'slack_sdk', 'telegram'}))\n"
    )
    example = ROOT / "config.example.toml"
    loaded = subprocess.run(
        [sys.executable, "-c", program, str(example)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "[]"


def test_staff_hear_of_cases_on_each_running_channel_that_has_a_staff_destination() -> None:
    sections: dict[str, dict[str, object]] = {
        "telegram": {"token": "1:abc", "staff_chat_id": -100},
        "slack": {"staff_channel": "C1"},
    }
    settings = settings_model().model_validate(sections)
    assert staff_destinations(settings) == {"telegram": StaffDestination("-100", "-100")}  # Slack has no token
    sections["slack"] |= {"bot_token": "xoxb-1", "signing_secret": "s"}
    assert staff_destinations(settings_model().model_validate(sections)) == {
        "telegram": StaffDestination("-100", "-100"),
        "slack": StaffDestination("C1", "C1"),
    }
