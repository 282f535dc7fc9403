from __future__ import annotations

import pytest

from bot.sentiment import DEFAULT_COMPLAINT_THRESHOLD
from bot.sentiment.complaint_analyzer import ComplaintAnalyzer


@pytest.fixture(scope="session")
def complaints() -> ComplaintAnalyzer:
    return ComplaintAnalyzer(DEFAULT_COMPLAINT_THRESHOLD)
