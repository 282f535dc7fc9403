"""Customer words made fit to show staff: nothing invisible, no line that passes for the bot's."""

from __future__ import annotations

import pytest

from bot.untrusted import one_line, quoted, visible

# Zero-width characters and bidirectional controls, each with its name.
HIDDEN = {
    "\u200b": "zero width space",
    "\u200c": "zero width non-joiner",
    "\u200d": "zero width joiner",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u2060": "word joiner",
    "\u2064": "invisible plus",
    "\ufeff": "zero width no-break space",
    "\u202a": "left-to-right embedding",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2069": "pop directional isolate",
    "\u061c": "arabic letter mark",
}


@pytest.mark.parametrize("character", HIDDEN, ids=HIDDEN.values())
def test_invisible_characters_are_removed(character: str) -> None:
    assert visible(f"invoice{character}fdp.exe") == "invoicefdp.exe"


def test_visible_words_are_kept_as_they_are() -> None:
    words = "Très déçu: ¡el pedido llegó tarde! Заказ опоздал. 注文が遅れた 😞\nSecond line"
    assert visible(words) == words


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_no_line_break_of_any_kind_starts_a_line_of_the_customers(newline: str) -> None:
    words = f"Fine{newline}Status: closed"
    assert quoted(words) == "“Fine”\n“Status: closed”"
    assert one_line(words) == "Fine Status: closed"


def test_quoted_words_drop_blank_and_invisible_only_lines() -> None:
    assert quoted("First\n\n  \n\u200b\nLast\u202e") == "“First”\n“Last”"
