"""Surveys as data: one TOML file per survey, validated into these models."""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.i18n import base_language, translate

IDENTIFIER = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# Question and option ids travel in button data (64 bytes on Telegram, with the conversation id): kept short.
SHORT_IDENTIFIER = r"^[a-z0-9][a-z0-9_-]{0,23}$"
Texts = dict[str, Annotated[str, Field(min_length=1)]]  # language code -> text


class SurveyError(Exception):
    """A broken survey file, worded as 'FILE: question ID: problem'."""


class QuestionKind(StrEnum):
    CSAT = "csat"
    NPS = "nps"
    CES = "ces"
    RATING = "rating"
    CHOICE = "choice"
    YES_NO = "yes_no"
    TEXT = "text"


FIXED_SCALES = {QuestionKind.CSAT: (1, 5), QuestionKind.NPS: (0, 10), QuestionKind.CES: (1, 7)}
SCALE_KINDS = frozenset({*FIXED_SCALES, QuestionKind.RATING})
DEFAULT_COMPLAINT_THRESHOLDS = {"csat": 2, "nps": 6, "ces": 3}
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
CONDITION = re.compile(r"^\s*([a-z0-9_-]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class Condition:
    """`question op value`: asked only when an earlier answer compares true."""

    question_id: str
    comparison: str
    value: int | str

    @classmethod
    def parse(cls, source: str) -> Condition:
        match = CONDITION.match(source)
        if not match:
            raise ValueError(f"condition {source!r} is not 'QUESTION OP VALUE' with OP one of {' '.join(COMPARISONS)}")
        question_id, comparison, raw = match.groups()
        value: int | str = int(raw) if re.fullmatch(r"-?\d+", raw) else raw.strip("\"'")
        return cls(question_id, comparison, value)

    def holds(self, answers: Mapping[str, int | str | None]) -> bool:
        """False when the earlier question was skipped or not asked."""
        given = answers.get(self.question_id)
        if given is None or type(given) is not type(self.value):
            return False
        return COMPARISONS[self.comparison](given, self.value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(Strict):
    id: str = Field(pattern=SHORT_IDENTIFIER)
    label: Texts


class Question(Strict):
    id: str = Field(pattern=SHORT_IDENTIFIER)
    kind: QuestionKind
    text: Texts
    optional: bool = False
    when: str | None = None
    min: int | None = None  # rating only
    max: int | None = None
    low_label: Texts | None = None
    high_label: Texts | None = None
    options: list[Option] = []
    complaint_at_or_below: int | None = None
    max_length: int = Field(default=2000, ge=1, le=10000)  # free text

    @property
    def condition(self) -> Condition | None:
        return Condition.parse(self.when) if self.when else None

    @property
    def scale(self) -> tuple[int, int] | None:
        """The (low, high) range of a numeric question."""
        if self.kind in FIXED_SCALES:
            return FIXED_SCALES[self.kind]
        if self.kind == QuestionKind.RATING and self.min is not None and self.max is not None:
            return (self.min, self.max)
        return None

    @model_validator(mode="after")
    def fits_its_kind(self) -> Question:
        if self.kind == QuestionKind.RATING:
            if self.min is None or self.max is None or self.min >= self.max:
                raise ValueError("a rating needs min and max, with min below max")
            if self.max - self.min > 10:
                raise ValueError("a rating has at most 11 steps")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"min and max are for ratings; a {self.kind} question has a fixed range")
        if self.kind == QuestionKind.CHOICE:
            ids = [option.id for option in self.options]
            if len(ids) < 2 or len(set(ids)) != len(ids):
                raise ValueError("a choice needs at least two options with distinct ids")
        elif self.options:
            raise ValueError(f"options are for choice questions, not {self.kind}")
        if self.when:
            Condition.parse(self.when)
        return self


class Survey(Strict):
    id: str = Field(pattern=IDENTIFIER)
    title: Texts
    fallback_language: str = "en"
    anonymous: bool = False
    expiry_hours: float = Field(default=72, gt=0)
    reminder_after_hours: float | None = Field(default=None, gt=0)  # overrides [reminders] after_hours
    intro: Texts | None = None
    thank_you: Texts
    complaint_thresholds: dict[str, int] = DEFAULT_COMPLAINT_THRESHOLDS
    questions: list[Question] = Field(min_length=1)

    @field_validator("complaint_thresholds")
    @classmethod
    def thresholds_for_scales(cls, thresholds: dict[str, int]) -> dict[str, int]:
        unknown = set(thresholds) - {kind.value for kind in SCALE_KINDS}
        if unknown:
            raise ValueError(f"thresholds apply to csat, nps, ces and rating, not {', '.join(sorted(unknown))}")
        return {**DEFAULT_COMPLAINT_THRESHOLDS, **thresholds}

    @model_validator(mode="after")
    def reminder_before_expiry(self) -> Survey:
        if self.reminder_after_hours is not None and self.reminder_after_hours >= self.expiry_hours:
            raise ValueError("reminder_after_hours must be less than expiry_hours: the survey closes before it")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((question for question in self.questions if question.id == question_id), None)

    def complaint_threshold(self, question: Question) -> int | None:
        """A score at or below this opens a complaint."""
        if question.complaint_at_or_below is not None:
            return question.complaint_at_or_below
        return self.complaint_thresholds.get(question.kind)

    def text(self, texts: Texts, language: str) -> str:
        """The text in `language`, else in the survey's fallback language."""
        return texts.get(language) or texts.get(base_language(language)) or texts[self.fallback_language]


class SurveyCatalogue(Mapping[str, Survey]):
    """The surveys the bot offers, by id."""

    def __init__(self, surveys: Mapping[str, Survey]) -> None:
        self._surveys = dict(surveys)

    def __getitem__(self, survey_id: str) -> Survey:
        return self._surveys[survey_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._surveys)

    def __len__(self) -> int:
        return len(self._surveys)

    def find(self, survey_id: str) -> Survey | None:
        """The survey of that id, in any letter case: `/survey CSAT` and the deep link `/start CSAT` start csat."""
        wanted = survey_id.casefold()
        return self._surveys.get(survey_id) or next(
            (survey for known, survey in self._surveys.items() if known.casefold() == wanted), None
        )

    @property
    def available(self) -> str:
        """The ids, as a list to show a person."""
        return ", ".join(self._surveys)


def check_consistency(survey: Survey) -> None:
    """Cross-field rules: unique ids, every text in the fallback language, conditions on earlier answers."""
    problems = _texts_missing_fallback("survey", survey.fallback_language, survey.title, survey.thank_you, survey.intro)
    if problems:
        raise SurveyError(problems)
    seen: dict[str, Question] = {}
    for question in survey.questions:
        where = f"question {question.id!r}"
        if question.id in seen:
            raise SurveyError(f"{where}: the id is used twice")
        labels = [option.label for option in question.options]
        problem = _texts_missing_fallback(
            where, survey.fallback_language, question.text, question.low_label, question.high_label, *labels
        )
        if problem:
            raise SurveyError(problem)
        if question.condition:
            _check_condition(where, question.condition, seen)
        _check_threshold(where, survey, question)
        seen[question.id] = question


def _texts_missing_fallback(where: str, fallback: str, *texts: Texts | None) -> str | None:
    for texts_ in texts:
        if texts_ is not None and fallback not in texts_:
            return f"{where}: a text has no {fallback!r} version (the fallback language)"
    return None


def _check_threshold(where: str, survey: Survey, question: Question) -> None:
    """A complaint threshold must be a score of the question's scale; elsewhere it has no meaning."""
    threshold = survey.complaint_threshold(question)
    if question.complaint_at_or_below is not None and question.scale is None:
        raise SurveyError(f"{where}: complaint_at_or_below is for scales, not {question.kind} questions")
    if question.scale is None or threshold is None or question.scale[0] <= threshold <= question.scale[1]:
        return
    given = (
        f"complaint_at_or_below = {threshold}"
        if question.complaint_at_or_below is not None
        else f"[complaint_thresholds] {question.kind} = {threshold}"
    )
    raise SurveyError(f"{where}: {given} is outside its scale {question.scale[0]}..{question.scale[1]}")


def _check_condition(where: str, condition: Condition, earlier: dict[str, Question]) -> None:
    source = earlier.get(condition.question_id)
    if source is None:
        raise SurveyError(f"{where}: the condition refers to {condition.question_id!r}, not an earlier question")
    if source.scale is not None:
        low, high = source.scale
        if not isinstance(condition.value, int) or not low <= condition.value <= high:
            raise SurveyError(f"{where}: the condition compares {source.id!r} with a number outside {low}..{high}")
    elif source.kind == QuestionKind.CHOICE:
        if condition.value not in {option.id for option in source.options} or condition.comparison not in ("==", "!="):
            raise SurveyError(f"{where}: the condition must test {source.id!r} with == or != against an option id")
    elif source.kind == QuestionKind.YES_NO:
        if condition.value not in ("yes", "no") or condition.comparison not in ("==", "!="):
            raise SurveyError(f"{where}: the condition must test {source.id!r} with == yes or == no")
    else:
        raise SurveyError(f"{where}: a condition cannot test the free-text question {source.id!r}")


def load_survey(path: Path) -> Survey:
    """One survey file, validated; raises SurveyError naming the file, the question and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SurveyError(f"{path}: not valid TOML: {error}") from None
    data.setdefault("id", path.stem)
    if data["id"] != path.stem:
        raise SurveyError(f"{path}: id {data['id']!r} differs from the file name {path.stem!r}")
    try:
        survey = Survey.model_validate(data)
        check_consistency(survey)
    except ValidationError as error:
        raise SurveyError(f"{path}: {_describe(error, data)}") from None
    except SurveyError as error:
        raise SurveyError(f"{path}: {error}") from None
    return survey


def _describe(error: ValidationError, data: dict[str, Any]) -> str:
    """'question ID: field: message' for the first problem."""
    first = error.errors()[0]
    location = list(first["loc"])
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    prefix = ""
    if len(location) >= 2 and location[0] == "questions" and isinstance(location[1], int):
        question = data["questions"][location[1]]
        name = question.get("id", f"#{location[1] + 1}") if isinstance(question, dict) else f"#{location[1] + 1}"
        prefix, location = f"question {name!r}: ", location[2:]
    field = ".".join(str(part) for part in location)
    return f"{prefix}{field + ': ' if field else ''}{message}"


def load_surveys(directory: Path) -> dict[str, Survey]:
    """Every `*.toml` survey of a folder, by id; the first broken file raises SurveyError."""
    if not directory.is_dir():
        raise SurveyError(f"{directory}: no such survey folder")
    surveys = {path.stem: load_survey(path) for path in sorted(directory.glob("*.toml"))}
    if not surveys:
        raise SurveyError(f"{directory}: no survey files (*.toml)")
    return surveys


def check_surveys(directory: Path) -> list[str]:
    """Every problem of every survey file in a folder, one line each (empty when all are fine)."""
    problems = []
    for path in sorted(directory.glob("*.toml")):
        try:
            load_survey(path)
        except SurveyError as error:
            problems.append(str(error))
    return problems


def end_labels(survey: Survey, question: Question, language: str) -> tuple[str | None, str | None]:
    """The words at both ends of a scale: the question's own, else the catalog's for csat, nps and ces."""
    if question.scale is None:
        return None, None
    if question.low_label and question.high_label:
        return survey.text(question.low_label, language), survey.text(question.high_label, language)
    if question.kind == QuestionKind.RATING:
        return None, None
    return translate(f"label_{question.kind}_low", language), translate(f"label_{question.kind}_high", language)
