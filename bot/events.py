"""Core events: what an adapter hands the engine, whatever the platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Respondent:
    """Who: a platform user on a channel, with the language their client reports."""

    channel: str
    user_id: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class StartSurvey:
    """Start (or resume) a survey, optionally tied to an order or ticket reference."""

    who: Respondent
    event_id: str
    survey_id: str
    reference: str | None = None
    anonymous: bool | None = None  # None: the survey's own setting
    link_id: int | None = None  # the survey link it was started by, whose attributes its answers carry
    invitation_id: int | None = None  # the invitation whose message opens it, tied to the survey unless anonymous


@dataclass(frozen=True, slots=True)
class SubmitSurvey:
    """A whole survey answered at once (a form): question id -> a button value or typed text."""

    who: Respondent
    event_id: str
    survey_id: str
    answers: Mapping[str, str]
    anonymous: bool | None = None  # None: the survey's own setting


@dataclass(frozen=True, slots=True)
class TextAnswer:
    """A typed message: answers the current question. `message_ref` names the message, so an edit can find it."""

    who: Respondent
    event_id: str
    text: str
    message_ref: str | None = None


@dataclass(frozen=True, slots=True)
class EditText:
    """The person edited a message they sent: the answer it gave is updated."""

    who: Respondent
    event_id: str
    message_ref: str
    text: str


@dataclass(frozen=True, slots=True)
class NotText:
    """A sticker, photo, voice note, location or contact where text or a button is expected."""

    who: Respondent
    event_id: str


@dataclass(frozen=True, slots=True)
class ChoiceAnswer:
    """A button press, bound to the conversation and question it was shown for."""

    who: Respondent
    event_id: str
    conversation_id: int
    question_id: str
    value: str  # a number, an option id, "yes", "no" or "skip"


@dataclass(frozen=True, slots=True)
class Complain:
    """The person asks to complain, in their own words."""

    who: Respondent
    event_id: str
    text: str


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """The person chose the language the bot and the surveys speak to them in."""

    who: Respondent
    event_id: str
    language: str


@dataclass(frozen=True, slots=True)
class OptOut:
    """No more surveys for this person until they start one themselves."""

    who: Respondent
    event_id: str


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete the person's personal data; anonymous aggregates (scores, sentiment) stay."""

    who: Respondent
    event_id: str


Event = (
    StartSurvey
    | SubmitSurvey
    | TextAnswer
    | ChoiceAnswer
    | Complain
    | EditText
    | NotText
    | SetLanguage
    | OptOut
    | Forget
)
