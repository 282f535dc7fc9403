"""Reading an answer: typed text or a button value, checked against its question."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.i18n import words
from bot.surveys import Question, QuestionKind

YES, NO = "yes", "no"
SKIP = "skip"
# ASCII digits only: `\d`, str.isdigit() and int() also take Arabic-Indic, fullwidth and other Unicode digits.
SCALE_VALUE = re.compile(r"-?[0-9]{1,3}")
TYPED_NUMBER = re.compile(r"[-+]?[0-9]{1,6}")
OPTION_NUMBER = re.compile(r"[0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid answer, in the columns it is stored in."""

    value: int | None = None
    choice: str | None = None
    text: str | None = None
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class Invalid(Exception):
    """Not an answer to this question: the catalog key of the hint to give, with its parameters."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


def parse_typed(question: Question, typed: str, option_labels: list[str]) -> Parsed:
    """A typed message: "4" or "four" on a scale, an option's number or label, yes/no, or free text."""
    normalized = typed.strip().lower().rstrip(".!")
    if question.optional and normalized in words("words_skip"):
        return Parsed(skipped=True)
    if question.kind == QuestionKind.TEXT:
        return _free_text(question, typed)
    if question.kind == QuestionKind.YES_NO:
        return _yes_no(normalized)
    if question.kind == QuestionKind.CHOICE:
        return _typed_choice(question, normalized, option_labels)
    return _scale_value(question, normalized)


def parse_button(question: Question, value: str) -> Parsed:
    """A button's value: only values the question offered are accepted (button data can be forged)."""
    if value == SKIP:
        if not question.optional:
            raise Invalid("button_invalid")
        return Parsed(skipped=True)
    if question.kind == QuestionKind.YES_NO and value in (YES, NO):
        return Parsed(value=int(value == YES))
    if question.kind == QuestionKind.CHOICE and value in {option.id for option in question.options}:
        return Parsed(choice=value)
    if question.scale is not None and SCALE_VALUE.fullmatch(value):
        low, high = question.scale
        if low <= int(value) <= high:
            return Parsed(value=int(value))
    raise Invalid("button_invalid")


def condition_value(kind: str, parsed: Parsed) -> int | str | None:
    """What a condition on this answer compares: the score, the option id or yes/no."""
    if parsed.skipped:
        return None
    if kind == QuestionKind.YES_NO and parsed.value is not None:
        return YES if parsed.value else NO
    return parsed.choice if kind == QuestionKind.CHOICE else parsed.value


def _free_text(question: Question, typed: str) -> Parsed:
    text = typed.strip()
    if not text:
        raise Invalid("hint_text_empty")
    if len(text) > question.max_length:
        raise Invalid("hint_text_too_long", {"length": len(text), "limit": question.max_length})
    return Parsed(text=text)


def _yes_no(normalized: str) -> Parsed:
    if normalized in words("words_yes"):
        return Parsed(value=1)
    if normalized in words("words_no"):
        return Parsed(value=0)
    raise Invalid("hint_yes_no")


def _typed_choice(question: Question, normalized: str, option_labels: list[str]) -> Parsed:
    if OPTION_NUMBER.fullmatch(normalized) and 1 <= int(normalized) <= len(question.options):
        return Parsed(choice=question.options[int(normalized) - 1].id)
    for option in question.options:
        names = {option.id, *(label.lower() for label in option.label.values())}
        if normalized in names:
            return Parsed(choice=option.id)
    raise Invalid("hint_choice", {"options": ", ".join(option_labels)})


def _scale_value(question: Question, normalized: str) -> Parsed:
    assert question.scale is not None  # every other kind is handled above
    low, high = question.scale
    number = int(normalized) if TYPED_NUMBER.fullmatch(normalized) else words("words_numbers").get(normalized)
    if number is None:
        raise Invalid("hint_number", {"low": low, "high": high})
    if not low <= number <= high:
        raise Invalid("hint_out_of_range", {"value": number, "low": low, "high": high})
    return Parsed(value=number)
