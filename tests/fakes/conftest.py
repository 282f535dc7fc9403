"""Fixtures for the tests of the fakes themselves."""

import pytest

from tests.fakes.telegram_api import fake_telegram

__all__ = ["fake_telegram"]


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta periods: with int periods, merely raising RetryAfter emits a deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
