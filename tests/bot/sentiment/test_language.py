from __future__ import annotations

import pytest

from bot.sentiment.language import reads_as_english


@pytest.mark.parametrize(
    "text",
    [
        "The parcel came late and nobody told me",
        "Pizza con queso was great",  # a foreign word among English ones
        "Thanks! 👍",
        "Café was nice",
        "ok",
    ],
)
def test_english_text_reads_as_english(text: str) -> None:
    assert reads_as_english(text)


@pytest.mark.parametrize(
    "text",
    [
        "Доставка опоздала",
        "配送が遅れました",
        "המשלוח הגיע באיחור",
        "La entrega llegó tarde y nadie me avisó",
        "Die Lieferung kam zu spät und ist kaputt",
        "Gracias",
    ],
)
def test_other_scripts_and_latin_languages_do_not(text: str) -> None:
    assert not reads_as_english(text)


def test_the_hint_wins_over_the_text() -> None:
    assert not reads_as_english("The parcel came late", "de")
    assert reads_as_english("The parcel came late", "en-US")
