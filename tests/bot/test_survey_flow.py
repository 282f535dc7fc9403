"""The survey flow on its own: no database, no clock; a survey, the answers so far, and what comes next."""

from __future__ import annotations

from typing import Any

import pytest

from bot.i18n import translate
from bot.prompts import NoticeKind, Option
from bot.survey_flow import (
    SKIP,
    Invalid,
    Parsed,
    condition_value,
    first_unanswered,
    next_question,
    parse_button,
    parse_form_value,
    parse_text,
    question_prompt,
    thanks,
)
from bot.surveys import Question, QuestionKind, Survey

TEXT = {"en": "Question?"}
OPTIONS = [
    {"id": "it-helpdesk", "label": {"en": "IT helpdesk", "es": "Soporte"}},
    {"id": "facilities", "label": {"en": "Facilities"}},
]


def question(kind: str, **fields: Any) -> Question:
    return Question.model_validate({"id": "q", "kind": kind, "text": TEXT, **fields})


def alone(asked: Question) -> Survey:
    """A survey of that one question."""
    return Survey.model_validate({"id": "one", "title": TEXT, "thank_you": TEXT, "questions": [asked]})


def survey(*questions: dict[str, Any]) -> Survey:
    return Survey.model_validate(
        {
            "id": "flow",
            "title": TEXT,
            "thank_you": {"en": "Thanks!", "es": "¡Gracias!"},
            "questions": [{"text": TEXT, **fields} for fields in questions],
        }
    )


# satisfaction, then what went wrong (low scores) or an optional comment (good scores), then a yes/no.
BRANCHING = survey(
    {"id": "score", "kind": "csat"},
    {"id": "wrong", "kind": "text", "when": "score <= 2"},
    {"id": "comment", "kind": "text", "optional": True, "when": "score >= 3"},
    {"id": "again", "kind": "yes_no"},
    {"id": "why_not", "kind": "text", "when": "again == no"},
)


def ids(questions: list[Question | None]) -> list[str | None]:
    return [None if found is None else found.id for found in questions]


def test_the_first_question_comes_first() -> None:
    assert ids([next_question(BRANCHING, None, {})]) == ["score"]


@pytest.mark.parametrize(("score", "asked"), [(1, "wrong"), (2, "wrong"), (3, "comment"), (5, "comment")])
def test_the_score_decides_which_question_follows(score: int, asked: str) -> None:
    after_score = next_question(BRANCHING, BRANCHING.questions[0], {"score": score})
    assert ids([after_score]) == [asked]


def test_questions_whose_condition_fails_are_skipped_and_the_last_answer_completes_the_survey() -> None:
    [score, _, comment, again, _] = BRANCHING.questions
    assert ids([next_question(BRANCHING, comment, {"score": 4, "comment": None})]) == ["again"]
    assert next_question(BRANCHING, again, {"score": 4, "again": "yes"}) is None
    assert ids([next_question(BRANCHING, again, {"score": 4, "again": "no"})]) == ["why_not"]
    assert ids([next_question(BRANCHING, score, {})]) == ["again"]  # no score given: neither branch applies


def test_a_skipped_answer_satisfies_no_condition() -> None:
    skipped = condition_value(QuestionKind.CSAT, Parsed(skipped=True))
    assert skipped is None
    assert ids([next_question(BRANCHING, BRANCHING.questions[0], {"score": skipped})]) == ["again"]


def test_after_a_changed_answer_the_first_unanswered_question_that_applies_comes_next() -> None:
    assert ids([first_unanswered(BRANCHING, {"score": 4})]) == ["comment"]
    assert ids([first_unanswered(BRANCHING, {"score": 1})]) == ["wrong"]
    assert first_unanswered(BRANCHING, {"score": 4, "comment": "fine", "again": "yes"}) is None


@pytest.mark.parametrize(
    ("kind", "parsed", "compared"),
    [
        (QuestionKind.NPS, Parsed(value=7), 7),
        (QuestionKind.YES_NO, Parsed(value=1), "yes"),
        (QuestionKind.YES_NO, Parsed(value=0), "no"),
        (QuestionKind.CHOICE, Parsed(choice="facilities"), "facilities"),
        (QuestionKind.TEXT, Parsed(text="words"), None),
    ],
)
def test_conditions_compare_the_score_the_option_or_yes_no(kind: str, parsed: Parsed, compared: object) -> None:
    assert condition_value(kind, parsed) == compared


VALID_TYPED = [
    (question("csat"), "four", Parsed(value=4)),
    (question("csat"), " 5. ", Parsed(value=5)),
    (question("nps"), "0", Parsed(value=0)),
    (question("ces"), "7", Parsed(value=7)),
    (question("rating", min=0, max=3), "3", Parsed(value=3)),
    (question("choice", options=OPTIONS), "2", Parsed(choice="facilities")),
    (question("choice", options=OPTIONS), "soporte", Parsed(choice="it-helpdesk")),
    (question("yes_no"), "Yes!", Parsed(value=1)),
    (question("yes_no"), "nope", Parsed(value=0)),
    (question("text"), "  Quick and friendly.  ", Parsed(text="Quick and friendly.")),
    (question("text", optional=True), "skip", Parsed(skipped=True)),
]


@pytest.mark.parametrize(("asked", "typed", "parsed"), VALID_TYPED)
def test_each_kind_of_question_reads_a_typed_answer(asked: Question, typed: str, parsed: Parsed) -> None:
    assert parse_text(alone(asked), asked, typed, "en") == parsed


INVALID_TYPED = [
    (question("csat"), "banana", Invalid("hint_number", {"low": 1, "high": 5})),
    (question("csat"), "skip", Invalid("hint_number", {"low": 1, "high": 5})),  # not optional
    (question("csat"), "\uff13", Invalid("hint_number", {"low": 1, "high": 5})),  # a fullwidth three
    (question("nps"), "11", Invalid("hint_out_of_range", {"value": 11, "low": 0, "high": 10})),
    (question("rating", min=0, max=3), "-1", Invalid("hint_out_of_range", {"value": -1, "low": 0, "high": 3})),
    (question("choice", options=OPTIONS), "3", Invalid("hint_choice", {"options": "IT helpdesk, Facilities"})),
    (question("yes_no"), "maybe", Invalid("hint_yes_no")),
    (question("text"), "   ", Invalid("hint_text_empty")),
    (question("text", max_length=10), "x" * 11, Invalid("hint_text_too_long", {"length": 11, "limit": 10})),
]


@pytest.mark.parametrize(("asked", "typed", "refusal"), INVALID_TYPED)
def test_a_typed_answer_that_does_not_fit_is_refused_with_its_hint(
    asked: Question, typed: str, refusal: Invalid
) -> None:
    with pytest.raises(Invalid) as refused:
        parse_text(alone(asked), asked, typed, "en")
    assert refused.value == refusal


def test_a_choice_is_listed_in_the_language_the_survey_speaks() -> None:
    asked = question("choice", options=OPTIONS)
    with pytest.raises(Invalid) as refused:
        parse_text(alone(asked), asked, "pizza", "es")
    assert refused.value.params == {"options": "Soporte, Facilities"}


@pytest.mark.parametrize(
    ("asked", "value", "parsed"),
    [
        (question("csat"), "1", Parsed(value=1)),
        (question("yes_no"), "no", Parsed(value=0)),
        (question("choice", options=OPTIONS), "facilities", Parsed(choice="facilities")),
        (question("text", optional=True), SKIP, Parsed(skipped=True)),
    ],
)
def test_a_button_offered_by_the_question_is_read(asked: Question, value: str, parsed: Parsed) -> None:
    assert parse_button(asked, value) == parsed


@pytest.mark.parametrize(
    ("asked", "forged"),
    [
        (question("csat"), "6"),  # off the scale
        (question("csat"), "0"),
        (question("csat"), "3.0"),
        (question("csat"), "\u0663"),  # an Arabic-Indic three, which int() would take
        (question("csat"), "9" * 500),
        (question("csat"), SKIP),  # not optional
        (question("csat"), "yes"),
        (question("yes_no"), "1"),
        (question("choice", options=OPTIONS), "hr"),  # not one of its options
        (question("choice", options=OPTIONS), "2"),  # typed numbering is not a button value
        (question("text"), "anything"),  # free text has no buttons
    ],
)
def test_forged_button_values_are_refused(asked: Question, forged: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_button(asked, forged)
    assert refused.value.key == "button_invalid"


@pytest.mark.parametrize(
    ("asked", "given", "parsed"),
    [
        (question("csat"), "2", Parsed(value=2)),
        (question("text"), "Broken again", Parsed(text="Broken again")),
        (question("text", optional=True), "", Parsed(skipped=True)),
        (BRANCHING.questions[1], "", Parsed(skipped=True)),  # asked only on a condition
    ],
)
def test_a_form_field_is_read_and_may_be_left_empty_when_optional_or_conditional(
    asked: Question, given: str, parsed: Parsed
) -> None:
    assert parse_form_value(asked, given) == parsed


@pytest.mark.parametrize(("given", "key"), [("", "hint_required"), ("9", "button_invalid")])
def test_a_required_form_field_empty_or_off_the_scale_is_refused(given: str, key: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_form_value(question("csat"), given)
    assert refused.value.key == key


def test_a_scale_question_is_asked_with_every_step_and_its_end_labels() -> None:
    asked = BRANCHING.questions[0]
    prompt = question_prompt(BRANCHING, asked, "es", conversation_id=7, anonymous=True)
    assert (prompt.conversation_id, prompt.question_id, prompt.kind, prompt.anonymous) == (7, "score", "csat", True)
    assert [option.value for option in prompt.options] == ["1", "2", "3", "4", "5"]
    assert (prompt.low_label, prompt.high_label) == (
        translate("label_csat_low", "es"),
        translate("label_csat_high", "es"),
    )
    assert prompt.skip is None


def test_an_optional_question_offers_skip_and_yes_no_offers_both_words() -> None:
    comment = question_prompt(BRANCHING, BRANCHING.questions[2], "en", conversation_id=1, anonymous=False)
    assert comment.options == [] and comment.skip == Option(value=SKIP, label=translate("skip", "en"))
    again = question_prompt(BRANCHING, BRANCHING.questions[3], "ru", conversation_id=1, anonymous=False)
    assert again.options == [Option(value=word, label=translate(word, "ru")) for word in ("yes", "no")]


def test_a_choice_is_asked_with_its_options_in_the_persons_language() -> None:
    asked = question("choice", options=OPTIONS)
    prompt = question_prompt(alone(asked), asked, "es", conversation_id=1, anonymous=False)
    assert prompt.options == [
        Option(value="it-helpdesk", label="Soporte"),
        Option(value="facilities", label="Facilities"),
    ]
    assert (prompt.low_label, prompt.high_label) == (None, None)


def test_the_thank_you_is_said_in_the_persons_language_else_the_fallback() -> None:
    said = thanks(BRANCHING, "es")
    assert (said.kind, said.text) == (NoticeKind.THANKS, "¡Gracias!")
    assert thanks(BRANCHING, "ru").text == "Thanks!"
