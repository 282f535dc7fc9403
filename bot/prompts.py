"""Core prompts: what the engine asks adapters to say. They render them as buttons, blocks or text."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bot.i18n import translate


class NoticeKind(StrEnum):
    INFO = "info"
    HINT = "hint"  # the answer was not understood; the question follows again
    REFUSAL = "refusal"  # the request cannot be done (closed survey, stale button)
    THANKS = "thanks"


class Option(BaseModel):
    value: str  # what a button sends back in ChoiceAnswer.value
    label: str


class QuestionPrompt(BaseModel):
    type: Literal["question"] = "question"
    conversation_id: int
    question_id: str
    kind: str
    text: str
    options: list[Option]  # scale steps, choices or yes/no; empty for free text
    low_label: str | None = None
    high_label: str | None = None
    skip: Option | None = None  # present when the question is optional
    anonymous: bool = False  # the conversation stores no person


class Notice(BaseModel):
    type: Literal["notice"] = "notice"
    kind: NoticeKind
    text: str
    question_id: str | None = None  # the form field a hint is about


def notice(kind: NoticeKind, key: str, language: str, **params: object) -> Notice:
    """A notice saying the bot's own phrase `key` in `language`."""
    return Notice(kind=kind, text=translate(key, language, **params))


class ComplaintOpened(BaseModel):
    type: Literal["complaint"] = "complaint"
    complaint_id: int
    reasons: list[str]
    text: str  # what the customer is told
    anonymous: bool = False


Prompt = Annotated[QuestionPrompt | Notice | ComplaintOpened, Field(discriminator="type")]


class Reply(BaseModel):
    """Everything to say in answer to one event, in order."""

    prompts: list[Prompt] = []
    duplicate: bool = False  # the event was applied before: these prompts were already returned once
    delivered: int = 0  # of a duplicate: how many of these prompts the channel already sent


@dataclass(frozen=True, slots=True)
class Message:
    """One message to send: the texts before a question (notices, complaint notes), then the question, if any."""

    texts: list[str]
    question: QuestionPrompt | None


def as_messages(prompts: list[Prompt]) -> list[Message]:
    """Prompts as few messages as possible: notices join the question that follows them."""
    messages: list[Message] = []
    pending: list[str] = []
    for prompt in prompts:
        if isinstance(prompt, QuestionPrompt):
            messages.append(Message(pending, prompt))
            pending = []
        else:
            pending.append(prompt.text)
    if pending:
        messages.append(Message(pending, None))
    return messages
