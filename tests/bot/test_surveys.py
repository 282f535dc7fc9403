"""Survey files: the shipped ones are valid, and every class of broken file is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.surveys import Condition, SurveyError, check_surveys, load_survey, load_surveys
from tests.conftest import ROOT

VALID_HEAD = 'title = { en = "T" }\nthank_you = { en = "Thanks" }\n'
SCALE = '[[questions]]\nid = "score"\nkind = "csat"\ntext = { en = "How?" }\n'


def test_the_shipped_surveys_are_valid() -> None:
    surveys = load_surveys(ROOT / "surveys")
    assert set(surveys) == {"csat", "nps", "ces", "internal-service"}
    assert check_surveys(ROOT / "surveys") == []
    assert surveys["internal-service"].anonymous


BROKEN = [
    ("not TOML", "title = ", "not valid TOML"),
    ("unknown key", VALID_HEAD + "colour = 'red'\n" + SCALE, "colour: unknown key"),
    ("no questions", VALID_HEAD, "questions: Field required"),
    (
        "a reminder after the expiry",
        VALID_HEAD + "expiry_hours = 24\nreminder_after_hours = 24\n" + SCALE,
        "reminder_after_hours must be less than expiry_hours",
    ),
    ("unknown kind", VALID_HEAD + SCALE.replace("csat", "stars"), "question 'score': kind: Input should be"),
    (
        "rating without a range",
        VALID_HEAD + SCALE.replace('"csat"', '"rating"'),
        "question 'score': a rating needs min and max, with min below max",
    ),
    (
        "range on a fixed scale",
        VALID_HEAD + SCALE + "max = 9\n",
        "question 'score': min and max are for ratings; a csat question has a fixed range",
    ),
    (
        "choice with one option",
        VALID_HEAD
        + '[[questions]]\nid = "pick"\nkind = "choice"\ntext = { en = "?" }\n'
        + '[[questions.options]]\nid = "a"\nlabel = { en = "A" }\n',
        "question 'pick': a choice needs at least two options with distinct ids",
    ),
    ("duplicate id", VALID_HEAD + SCALE + SCALE, "question 'score': the id is used twice"),
    (
        "no text in the fallback language",
        VALID_HEAD + SCALE.replace('{ en = "How?" }', '{ es = "¿Cómo?" }'),
        "question 'score': a text has no 'en' version (the fallback language)",
    ),
    (
        "condition on a later question",
        VALID_HEAD + SCALE.replace("text =", 'when = "later >= 2"\ntext ='),
        "question 'score': the condition refers to 'later', not an earlier question",
    ),
    (
        "condition outside the scale",
        VALID_HEAD + SCALE + '[[questions]]\nid = "why"\nkind = "text"\nwhen = "score <= 9"\ntext = { en = "Why?" }\n',
        "question 'why': the condition compares 'score' with a number outside 1..5",
    ),
    (
        "condition that does not parse",
        VALID_HEAD
        + SCALE
        + '[[questions]]\nid = "why"\nkind = "text"\nwhen = "score is low"\ntext = { en = "Why?" }\n',
        "question 'why': condition 'score is low' is not 'QUESTION OP VALUE'",
    ),
    ("id differs from the file name", 'id = "other"\n' + VALID_HEAD + SCALE, "id 'other' differs from the file name"),
    (
        "question threshold outside the scale",
        VALID_HEAD + SCALE + "complaint_at_or_below = 40\n",
        "question 'score': complaint_at_or_below = 40 is outside its scale 1..5",
    ),
    (
        "survey threshold outside the scale",
        VALID_HEAD + "[complaint_thresholds]\ncsat = 40\n\n" + SCALE,
        "question 'score': [complaint_thresholds] csat = 40 is outside its scale 1..5",
    ),
    (
        "threshold below a rating's scale",
        VALID_HEAD + "[complaint_thresholds]\nrating = 0\n\n" + SCALE.replace('"csat"', '"rating"\nmin = 1\nmax = 10'),
        "question 'score': [complaint_thresholds] rating = 0 is outside its scale 1..10",
    ),
    (
        "threshold on free text",
        VALID_HEAD + SCALE.replace('"csat"', '"text"') + "complaint_at_or_below = 2\n",
        "question 'score': complaint_at_or_below is for scales, not text questions",
    ),
]


@pytest.mark.parametrize(("case", "content", "problem"), BROKEN, ids=[case for case, _, _ in BROKEN])
def test_a_broken_survey_is_rejected_naming_the_file_question_and_problem(
    tmp_path: Path, case: str, content: str, problem: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SurveyError) as raised:
        load_survey(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert problem in str(raised.value)
    assert check_surveys(tmp_path) == [str(raised.value)]


@pytest.mark.parametrize(
    ("condition", "answers", "holds"),
    [
        ("score <= 2", {"score": 2}, True),
        ("score <= 2", {"score": 3}, False),
        ("score > 8", {"score": 9}, True),
        ("score != 3", {"score": 3}, False),
        ("score <= 2", {"score": None}, False),  # skipped
        ("score <= 2", {}, False),  # not asked
        ("pick == hr", {"pick": "hr"}, True),
        ("pick == hr", {"pick": "it"}, False),
        ("resolved == no", {"resolved": "no"}, True),
    ],
)
def test_conditions_compare_earlier_answers(condition: str, answers: dict[str, int | str | None], holds: bool) -> None:
    assert Condition.parse(condition).holds(answers) is holds
