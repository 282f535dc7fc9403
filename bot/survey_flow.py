"""The survey flow, pure: which question comes next, whether its condition holds, reading and checking an answer,
and the question as a prompt. No database, no session, no clock: the same inputs give the same result."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.i18n import translate, words
from bot.prompts import Notice, NoticeKind, Option, QuestionPrompt
from bot.surveys import Question, QuestionKind, Survey, end_labels

YES, NO = "yes", "no"
SKIP = "skip"
Given = Mapping[str, int | str | None]  # what conditions compare, per answered question (None: skipped)
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


def parse_text(survey: Survey, question: Question, typed: str, language: str) -> Parsed:
    """A typed answer; a choice may be typed as its label in the language the survey speaks."""
    return parse_typed(question, typed, [survey.text(option.label, language) for option in question.options])


def parse_form_value(question: Question, given: str) -> Parsed:
    """A form field: empty skips a question that is optional or asked only on a condition."""
    if not given:
        if question.optional or question.condition is not None:
            return Parsed(skipped=True)
        raise Invalid("hint_required")
    if question.kind == QuestionKind.TEXT:
        return parse_typed(question, given, [])
    return parse_button(question, given)


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


def applies(question: Question, given: Given) -> bool:
    """Whether the question is to be asked, given the answers so far."""
    return question.condition is None or question.condition.holds(given)


def first_that_applies(candidates: Sequence[Question], given: Given) -> Question | None:
    """The first candidate whose condition holds; None when none does (the survey is complete)."""
    return next((question for question in candidates if applies(question, given)), None)


def next_question(survey: Survey, after: Question | None, given: Given) -> Question | None:
    """The question to ask after `after` (None: the first), skipping those whose condition does not hold."""
    start = survey.questions.index(after) + 1 if after else 0
    return first_that_applies(survey.questions[start:], given)


def first_unanswered(survey: Survey, given: Given) -> Question | None:
    """The first question not answered yet whose condition holds: where a survey goes on once an earlier answer
    changed and the open question no longer applies."""
    return first_that_applies([question for question in survey.questions if question.id not in given], given)


def question_prompt(
    survey: Survey, question: Question, language: str, *, conversation_id: int, anonymous: bool
) -> QuestionPrompt:
    """The question as adapters render it: its text, options and scale labels in `language`."""
    low_label, high_label = end_labels(survey, question, language)
    return QuestionPrompt(
        conversation_id=conversation_id,
        question_id=question.id,
        kind=question.kind,
        text=survey.text(question.text, language),
        options=_options(survey, question, language),
        low_label=low_label,
        high_label=high_label,
        skip=Option(value=SKIP, label=translate("skip", language)) if question.optional else None,
        anonymous=anonymous,
    )


def thanks(survey: Survey, language: str) -> Notice:
    """The survey's thank-you, said when it is complete."""
    return Notice(kind=NoticeKind.THANKS, text=survey.text(survey.thank_you, language))


def _options(survey: Survey, question: Question, language: str) -> list[Option]:
    if question.scale is not None:
        low, high = question.scale
        return [Option(value=str(step), label=str(step)) for step in range(low, high + 1)]
    if question.kind == QuestionKind.CHOICE:
        return [Option(value=option.id, label=survey.text(option.label, language)) for option in question.options]
    if question.kind == QuestionKind.YES_NO:
        return [Option(value=word, label=translate(word, language)) for word in (YES, NO)]
    return []
