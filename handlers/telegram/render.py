"""Core prompts as Telegram messages, and the compact, versioned button data that comes back."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.prompts import Notice, NoticeKind, QuestionPrompt, Reply, as_messages

# Button data: "<kind><version>|..." within Telegram's 64 bytes. A new layout gets a new version.
ANSWER = "a1"  # a1|conversation|question|value
LANGUAGE = "l1"  # l1|code
SURVEY = "s1"  # s1|survey
CONFIRM = "c1"  # c1|stop|yes
SEPARATOR = "|"
ROW_LIMIT = 7  # scale steps that fit one row on a phone; longer scales take two rows
MAX_NUMBER = 2**63 - 1  # the database's BIGINT


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    keyboard: InlineKeyboardMarkup | None = None


@dataclass(frozen=True, slots=True)
class AnswerData:
    conversation_id: int
    question_id: str
    value: str


def answer_data(question: QuestionPrompt, value: str) -> str:
    return SEPARATOR.join((ANSWER, str(question.conversation_id), question.question_id, value))


def parse_answer_data(data: str) -> AnswerData | None:
    """The answer a button carries; None for data this version did not make."""
    parts = data.split(SEPARATOR)
    if len(parts) != 4 or parts[0] != ANSWER or (conversation_id := parse_number(parts[1])) is None:
        return None
    return AnswerData(conversation_id, parts[2], parts[3])


def parse_number(text: str) -> int | None:
    """A number in button data: ASCII digits the database can hold; None for anything else (forged data)."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_NUMBER)):
        return None
    number = int(text)
    return number if number <= MAX_NUMBER else None


def messages_for(reply: Reply, *, skip_refusals: bool = False) -> list[Message]:
    """The reply as Telegram messages; refusals of a button press go on the button's answer instead."""
    prompts = [
        prompt
        for prompt in reply.prompts
        if not (skip_refusals and isinstance(prompt, Notice) and prompt.kind == NoticeKind.REFUSAL)
    ]
    return [
        Message(
            "\n\n".join([*message.texts, *([question_text(message.question)] if message.question else [])]),
            keyboard(message.question) if message.question else None,
        )
        for message in as_messages(prompts)
    ]


def question_text(question: QuestionPrompt) -> str:
    if question.low_label and question.high_label:
        low, high = question.options[0].label, question.options[-1].label
        return f"{question.text}\n{low} = {question.low_label} · {high} = {question.high_label}"
    return question.text


def keyboard(question: QuestionPrompt) -> InlineKeyboardMarkup | None:
    """Scales in one row (two when long), choices one per row, yes/no side by side, Skip on its own row."""
    buttons = [
        InlineKeyboardButton(option.label, callback_data=answer_data(question, option.value))
        for option in question.options
    ]
    if question.kind == "choice":
        rows = [[button] for button in buttons]
    elif len(buttons) > ROW_LIMIT:
        half = (len(buttons) + 1) // 2
        rows = [buttons[:half], buttons[half:]]
    else:
        rows = [buttons] if buttons else []
    if question.skip:
        rows.append(
            [InlineKeyboardButton(question.skip.label, callback_data=answer_data(question, question.skip.value))]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def chosen_label(markup: InlineKeyboardMarkup | None, data: str) -> str | None:
    """The text of the pressed button, read from the message it was on."""
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
