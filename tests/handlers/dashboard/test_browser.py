"""The dashboard in a real headless browser (Debian's chromium through its chromedriver), served by uvicorn as
`feedbackbot run` serves it: refused without the login; with it, the charts drawn, the numbers of the JSON report,
and nothing wrong in the browser's console."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.app import Core
from bot.cli import min_group_size
from bot.report_html import survey_figures
from bot.report_output import report_json
from bot.reports import Breakdown, build_report
from handlers.dashboard.app import build_dashboard
from handlers.web import create_app
from tests.bot.customer import Customer
from tests.conftest import free_port
from tests.handlers.dashboard.conftest import LOGIN, RUDE, answer_csat

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # Debian's; scripts/with-chromium installs them
FLAGS = (  # headless on this machine, and no request of the browser's own to the network
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DRAWN_SECONDS = 30  # the longest wait for plotly to draw; a wait, not a measure


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            pytest.fail(f"{program} is missing: run the tests with `make test`, which installs chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture
async def served(core: Core) -> AsyncIterator[str]:
    """The bot's HTTP app with the dashboard on a real server on a free loopback port; its base URL."""
    port = free_port()
    app = create_app(core.database, dashboard=build_dashboard(core))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn offers no event to wait for
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The browser console's errors since last asked (a refused script or style, a failed request, a thrown error)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def logged_in(driver: webdriver.Chrome) -> None:
    """Every request of the browser carries the login from now on, as after the browser's own prompt."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": LOGIN})


def cells(driver: webdriver.Chrome, group: str) -> list[str]:
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, f'tr[data-group="{group}"] td')]


def with_interval(figure: dict[str, Any], value: str) -> str:
    """A share of the JSON report as the page's table shows it: 66.7 (20.8-93.9)."""
    low, high = figure["interval"]
    return f"{figure[value]:.1f} ({low:.1f}-{high:.1f})"


async def test_the_dashboard_in_a_browser(core: Core, served: str, browser: webdriver.Chrome) -> None:
    await answer_csat(core.engine, "ann", "telegram", 5)
    await answer_csat(core.engine, "bob", "telegram", 4)
    await answer_csat(core.engine, "cat", "slack", 1, RUDE)
    await core.cases.resolve(1, "U0STAFF", corrective_action="Retrained the courier", root_cause="people", message=None)
    await Customer(core.engine, "dan", "telegram").complain("Nobody answers the phone")
    built = await build_report(
        core.database,
        [core.surveys["csat"]],
        since=None,
        until=None,
        by=Breakdown.CHANNEL,
        min_group_size=min_group_size(core.settings),
    )
    expected = json.loads(report_json(built))["surveys"][0]
    overview = f"{served}/dashboard/?survey=csat&by=channel"

    def refused() -> tuple[str, int, list[str]]:
        browser.get(overview)
        charts = len(browser.find_elements(By.CSS_SELECTOR, ".chart"))
        return browser.find_element(By.TAG_NAME, "body").text, charts, console_errors(browser)

    body, charts, errors = await asyncio.to_thread(refused)
    assert "Report" not in body and charts == 0
    assert errors == [
        "chrome-error://chromewebdata/ - Failed to load resource: the server responded with a status of 401 ()"
    ]

    def overview_page() -> tuple[dict[str, list[str]], list[str], list[str]]:
        logged_in(browser)
        browser.get(overview)
        charts = browser.find_elements(By.CSS_SELECTOR, ".chart")
        WebDriverWait(browser, DRAWN_SECONDS).until(
            lambda driver: all(chart.find_elements(By.CSS_SELECTOR, "svg.main-svg") for chart in charts)
        )
        titles = [title.text for title in browser.find_elements(By.CSS_SELECTOR, ".chart .gtitle")]
        return {group: cells(browser, group) for group in ("all", "slack", "telegram")}, titles, console_errors(browser)

    rows, titles, errors = await asyncio.to_thread(overview_page)
    assert titles == [figure.layout.title.text for figure in survey_figures(built.surveys[0])]
    assert {"CSAT % (95 % interval)", "CSAT scores (all)", "Root causes (Pareto)"} <= set(titles)
    for group in [expected["total"], *expected["groups"]]:
        shown = rows[group["group"]]
        assert shown[1] == str(group["respondents"])
        assert shown[2] == with_interval(group["csat"], "percent")
        assert shown[7] == str(group["cases"]["count"])
    assert rows["all"][6] == with_interval(expected["total"]["sentiment"], "negative_percent")
    assert errors == []

    def case_pages() -> tuple[list[str], str, list[str]]:
        browser.get(f"{served}/dashboard/cases")
        listed = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-case]")]
        browser.find_element(By.LINK_TEXT, "#2").click()
        return listed, browser.find_element(By.TAG_NAME, "main").text, console_errors(browser)

    listed, case, errors = await asyncio.to_thread(case_pages)
    assert [row.split()[0] for row in listed] == ["#2"]  # case 1 is resolved
    assert "Case #2" in case and "Nobody answers the phone" in case and "opened" in case
    assert errors == []
