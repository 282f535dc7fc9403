"""Core prompts and survey forms as Block Kit, built with slack_sdk.models; the ids Slack sends back."""

from __future__ import annotations

import re
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.analytics import GroupScore
from bot.prompts import Message, QuestionPrompt
from bot.surveys import Question, QuestionKind, Survey, end_labels
from bot.untrusted import one_line, visible
from storage.views import CaseView, RecentAnswer

# action_id / callback_id / block_id strings Slack sends back: one place, shared by builders and listeners.
ANSWER = "survey_answer"  # value: "conversation|question|value"
START = "survey_start"  # value: survey id
FEEDBACK_VIEW = "feedback_form"  # private_metadata: survey id
FIELD = "value"  # the action_id of every form input
ANONYMOUS_BLOCK = "anonymous"
ANONYMOUS_OPTION = "anonymous"
SEPARATOR = "|"
TEXT_LIMIT = 3000  # a section's text
BUTTON_TEXT_LIMIT = 75
ACTIONS_LIMIT = 25
CONVERSATION_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits: str.isdigit() takes other scripts' digits too


def answer_value(question: QuestionPrompt, value: str) -> str:
    return SEPARATOR.join((str(question.conversation_id), question.question_id, value))


def parse_answer_value(value: str) -> tuple[int, str, str] | None:
    parts = value.split(SEPARATOR)
    if len(parts) != 3 or not CONVERSATION_NUMBER.fullmatch(parts[0]):
        return None
    return int(parts[0]), parts[1], parts[2]


def escaped(text: str) -> str:
    """Text for mrkdwn or a message's fallback `text` (which Slack reads as mrkdwn too): Slack's control characters
    `&`, `<` and `>` as the entities Slack documents, so that nothing in it mentions or links; invisible characters
    that could disguise the rest removed."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def words(text: str) -> SectionBlock:
    """Someone's words, shown as they are: plain text (no formatting), escaped (no mention, no link)."""
    return SectionBlock(text=PlainTextObject(text=escaped(text)[:TEXT_LIMIT]))


def message_blocks(message: Message) -> list[Block]:
    """One message of a reply: its notices, then its question with the buttons."""
    if message.question is None:
        return [section(escaped("\n\n".join(message.texts)))]
    return question_blocks(message.question, message.texts)


def message_text(message: Message) -> str:
    """The plain-text fallback of a message (notifications, screen readers)."""
    question = [message.question.text] if message.question else []
    return escaped("\n".join([*message.texts, *question]))[:TEXT_LIMIT]


def question_blocks(question: QuestionPrompt, before: Sequence[str] = ()) -> list[Block]:
    notices = [escaped(text) for text in before]
    blocks: list[Block] = [section("\n\n".join([*notices, f"*{escaped(question.text)}*"]))]
    buttons = [
        ButtonElement(
            text=option.label[:BUTTON_TEXT_LIMIT],
            action_id=f"{ANSWER}_{index}",
            value=answer_value(question, option.value),
        )
        for index, option in enumerate(question.options)
    ]
    if question.skip:
        skip = answer_value(question, question.skip.value)
        buttons.append(
            ButtonElement(text=question.skip.label[:BUTTON_TEXT_LIMIT], action_id=f"{ANSWER}_skip", value=skip)
        )
    for start in range(0, len(buttons), ACTIONS_LIMIT):  # an actions block holds at most 25 elements
        blocks.append(ActionsBlock(elements=buttons[start : start + ACTIONS_LIMIT]))
    if question.low_label and question.high_label:
        low, high = question.options[0].label, question.options[-1].label
        ends = f"{low} = {question.low_label} · {high} = {question.high_label}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=escaped(ends))]))
    elif not buttons:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="_Reply in this thread._")]))
    return blocks


def answered_blocks(question_mrkdwn: str, chosen: str) -> list[Block]:
    """A question once answered (its text as the bot posted it): its buttons replaced by the choice, so old buttons
    stop working."""
    return [section(question_mrkdwn), ContextBlock(elements=[MarkdownTextObject(text=f"✅ {escaped(chosen)}")])]


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:TEXT_LIMIT]))


def feedback_form(survey: Survey, language: str, anonymous_default: bool, preselected: str | None = None) -> View:
    """The /feedback modal: one input per question of the survey, and the anonymous checkbox."""
    blocks: list[Block] = [form_input(survey, question, language, preselected) for question in survey.questions]
    anonymous = Option(value=ANONYMOUS_OPTION, text="Answer anonymously (your name is not stored)")
    blocks.append(
        InputBlock(
            block_id=ANONYMOUS_BLOCK,
            label="Anonymity",
            optional=True,
            element=CheckboxesElement(
                action_id=FIELD, options=[anonymous], initial_options=[anonymous] if anonymous_default else None
            ),
        )
    )
    return View(
        type="modal",
        callback_id=FEEDBACK_VIEW,
        private_metadata=survey.id,
        title=PlainTextObject(text=survey.text(survey.title, language)[:24]),
        submit=PlainTextObject(text="Send"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )


def form_input(survey: Survey, question: Question, language: str, preselected: str | None) -> InputBlock:
    """A question as a form field: choices and scales as menus or radio buttons, free text as a text box."""
    label = survey.text(question.text, language)[:2000]
    optional = question.optional or question.condition is not None  # conditions cannot react inside a form
    if question.kind == QuestionKind.TEXT:
        element = PlainTextInputElement(action_id=FIELD, multiline=True, max_length=min(question.max_length, 3000))
        return InputBlock(block_id=question.id, label=label, element=element, optional=optional)
    options = form_options(survey, question, language)
    initial = next((option for option in options if option.value == preselected), None)
    if question.kind == QuestionKind.YES_NO:
        radio = RadioButtonsElement(action_id=FIELD, options=options)
        return InputBlock(block_id=question.id, label=label, element=radio, optional=optional)
    menu = StaticSelectElement(action_id=FIELD, options=options, initial_option=initial, placeholder="Choose")
    return InputBlock(block_id=question.id, label=label, element=menu, optional=optional)


def form_options(survey: Survey, question: Question, language: str) -> list[Option]:
    if question.kind == QuestionKind.CHOICE:
        return [Option(value=o.id, text=survey.text(o.label, language)[:75]) for o in question.options]
    if question.kind == QuestionKind.YES_NO:
        return [Option(value="yes", text="Yes"), Option(value="no", text="No")]
    assert question.scale is not None
    low, high = question.scale
    low_label, high_label = end_labels(survey, question, language)
    ends = {low: low_label, high: high_label}
    return [
        Option(value=str(step), text=f"{step} - {ends[step]}" if ends.get(step) else str(step))
        for step in range(low, high + 1)
    ]


def home_view(
    *,
    surveys: Sequence[Survey],
    language: str,
    open_survey: Survey | None,
    answers: Sequence[RecentAnswer],
    staff: StaffFigures | None,
    outcomes: Sequence[Block] = (),
) -> View:
    """App Home: the person's open survey, their answers and surveys to start; figures and open cases for staff."""
    blocks: list[Block] = [HeaderBlock(text="Feedback")]
    if open_survey is not None:
        blocks.append(section(f"You have *{open_survey.text(open_survey.title, language)}* open: answer it in our DM."))
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(text=survey.text(survey.title, language)[:75], action_id=f"{START}_{n}", value=survey.id)
                for n, survey in enumerate(surveys[:25])
            ]
        )
    )
    if outcomes:  # the outcomes of the person's anonymous cases, which only they see
        blocks += [DividerBlock(), *outcomes]
    if answers:
        lines = [f"• {answer.survey_id} / {answer.question_id}: {one_line(shown(answer))}" for answer in answers]
        blocks += [DividerBlock(), section("*Your recent answers*"), words("\n".join(lines))]
    if staff is not None:
        blocks += [DividerBlock(), *staff.blocks()]
    return View(type="home", blocks=blocks)


def shown(answer: RecentAnswer) -> str:
    if answer.skipped:
        return "skipped"
    if answer.value is not None:
        return str(answer.value)
    return answer.choice or (answer.text or "")[:80]


class StaffFigures:
    """What staff see on App Home."""

    def __init__(
        self,
        csat: Sequence[GroupScore],
        nps: Sequence[GroupScore],
        open_total: int,
        open_cases: Sequence[CaseView],
        min_group_size: int,
    ) -> None:
        self.csat, self.nps, self.open_total = csat, nps, open_total
        self.open_cases, self.min_group_size = open_cases, min_group_size

    def blocks(self) -> list[Block]:
        lines = [self.line(score.group, score, "{:.0f}% satisfied") for score in self.csat]
        lines += [self.line(f"NPS {score.group}", score, "{:+.0f}") for score in self.nps]
        cases = [
            f"• #{case.id} {', '.join(case.reasons)} — {case.survey_id or 'direct'}"
            + (f" — “{one_line(case.text)[:120]}”" if case.text else "")  # one line each: no line can pass for another
            for case in self.open_cases
        ]
        return [
            section("*Service quality*\n" + escaped("\n".join(lines) or "No answers yet.")),
            section(f"*Open cases: {self.open_total}*"),
            words("\n".join(cases) or "None."),
        ]

    def line(self, name: str, score: GroupScore, figure: str) -> str:
        """One figure; `figure` formats the percentage."""
        if score.percent is not None:
            return f"• {name}: {figure.format(score.percent)} ({score.answers} answers)"
        if score.answers:
            return f"• {name}: not shown, fewer than {self.min_group_size} anonymous answers ({score.answers})"
        return f"• {name}: no answers"
