"""Complaint cases in the Slack staff channel: the case message and its buttons, the resolve form, the customer's
answer to "Is this resolved for you?" in their DM; and the outbox's Slack sender."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.cases import CaseError, Cases, EventKey, alert_text, outcome_text
from bot.i18n import translate
from bot.outbound import (
    CaseAlert,
    CaseContact,
    CaseEscalation,
    CaseMessage,
    CaseResolution,
    CaseUpdate,
    Refused,
    SendResult,
    Sent,
    StaffNotice,
)
from bot.untrusted import one_line
from handlers.slack.blocks import TEXT_LIMIT, escaped, section, words
from handlers.slack.common import CHANNEL, Services, event_key, log_api_error, respondent, send_failure
from storage.models import CaseStatus
from storage.views import CaseView

ACKNOWLEDGE, ASSIGN, RESOLVE, CONTACT = "case_acknowledge", "case_assign", "case_resolve", "case_contact"
OUTCOME_YES, OUTCOME_NO = "case_outcome_yes", "case_outcome_no"
RESOLVE_FORM, CONTACT_FORM = "case_resolve_form", "case_contact_form"
ACTION_BLOCK, CAUSE_BLOCK, MESSAGE_BLOCK = "corrective_action", "root_cause", "customer_message"
FIELD = "value"
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")  # an id a mention may be made of
log = logging.getLogger("handlers.slack")


def case_blocks(case: CaseView, answers: str | None = None) -> list[Block]:
    """The case's staff message: the alert as plain text (the customer's words in it can neither mention, link nor
    format), its state and, while open, the staff buttons."""
    facts = [
        f"*Status:* {case.status}",
        f"*Priority:* {case.priority}",
        f"*Category:* {escaped(case.category or '-')}",
        f"*Assignee:* {assignee(case.assignee)}",
    ]
    if case.due_ack_at and case.acknowledged_at is None:
        facts.append(f"*Acknowledge by:* {case.due_ack_at:%Y-%m-%d %H:%M} UTC")
    elif case.due_resolve_at and case.resolved_at is None:
        facts.append(f"*Resolve by:* {case.due_resolve_at:%Y-%m-%d %H:%M} UTC")
    state: list[MarkdownTextObject | PlainTextObject] = [MarkdownTextObject(text=" · ".join(facts))]
    if case.corrective_action:  # staff words: shown as they were typed, on one line
        done = one_line(f"Done: {case.corrective_action} ({case.root_cause})")
        state.append(PlainTextObject(text=escaped(done)[:TEXT_LIMIT]))
    blocks: list[Block] = [
        HeaderBlock(text=f"Complaint #{case.id}"),
        words(alert_text(case, answers)),
        ContextBlock(elements=state),
    ]
    if case.is_open:
        buttons: list[Any] = []
        if case.status != CaseStatus.ACKNOWLEDGED:
            buttons.append(
                ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE, value=str(case.id), style="primary")
            )
        buttons.append(UserSelectElement(action_id=ASSIGN, placeholder="Assign", initial_user=case.assignee or None))
        buttons.append(ButtonElement(text="Resolve", action_id=RESOLVE, value=str(case.id)))
        if case.person_id is not None:  # an anonymous customer cannot be written to
            buttons.append(ButtonElement(text="Contact customer", action_id=CONTACT, value=str(case.id)))
        blocks.append(ActionsBlock(block_id=f"case-{case.id}", elements=buttons))
    return blocks


def assignee(user: str | None) -> str:
    """A mention of the case's assignee when they are a Slack user, else their id as text."""
    if user and SLACK_USER.fullmatch(user):
        return f"<@{user}>"
    return escaped(user or "-")


def trail_line(line: str) -> dict[str, Any]:
    """A step of the case as a message; its words may be a customer's or staff's: escaped plain text, on one line."""
    text = one_line(line)
    return {"text": escaped(text)[:TEXT_LIMIT], "blocks": [words(text)]}


def outcome_blocks(case: CaseView, message: str = "") -> list[Block]:
    """The outcome of a case and the customer's two buttons."""
    text = outcome_text(case, None, message)
    buttons = [
        ButtonElement(text=translate("yes", None), action_id=OUTCOME_YES, value=str(case.id), style="primary"),
        ButtonElement(text=translate("no", None), action_id=OUTCOME_NO, value=str(case.id)),
    ]
    return [words(text), ActionsBlock(elements=buttons)]


def resolve_form(case: CaseView, root_causes: list[str]) -> View:
    """The form a case is resolved with: the corrective action and root cause are required."""
    causes = StaticSelectElement(
        action_id=FIELD, options=[Option(value=c, text=c) for c in root_causes], placeholder="Choose"
    )
    return _case_form(
        case,
        RESOLVE_FORM,
        title=f"Resolve #{case.id}",
        submit="Resolve",
        blocks=[
            InputBlock(block_id=ACTION_BLOCK, label="Corrective action taken", element=_text_field(2000)),
            InputBlock(block_id=CAUSE_BLOCK, label="Root cause", element=causes),
            _message_field(optional=True),
        ],
    )


def contact_form(case: CaseView) -> View:
    """The form staff write to the customer with; the customer's replies come back into the case's thread."""
    return _case_form(
        case, CONTACT_FORM, title=f"Write to #{case.id}", submit="Send", blocks=[_message_field(optional=False)]
    )


def _case_form(case: CaseView, callback_id: str, *, title: str, submit: str, blocks: list[Block]) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        private_metadata=str(case.id),
        title=PlainTextObject(text=title[:24]),  # Slack's limit for a modal title
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    )


def _message_field(*, optional: bool) -> InputBlock:
    return InputBlock(
        block_id=MESSAGE_BLOCK, label="Message to the customer", optional=optional, element=_text_field(1000)
    )


def _text_field(max_length: int) -> PlainTextInputElement:
    return PlainTextInputElement(action_id=FIELD, multiline=True, max_length=max_length)


def register(app: AsyncApp, services: Services, cases: Cases) -> None:
    """Staff buttons check that the presser is staff; everyone else is refused and logged."""

    async def staff_only(body: dict[str, Any]) -> bool:
        if await services.is_staff(body["user"]["id"]):
            return True
        log.warning("slack: a case button was pressed by someone who is not staff; refused")
        await tell_presser(body, "Only staff can act on complaint cases.")
        return False

    async def step(body: dict[str, Any], work: Any) -> None:
        try:
            await work
        except CaseError as error:
            await tell_presser(body, str(error))

    async def tell_presser(body: dict[str, Any], text: str) -> None:
        """A notice only the presser sees; someone outside the channel (a forged press) gets none."""
        channel = (body.get("channel") or {}).get("id")
        if not channel:
            return
        try:
            await services.client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
        except SlackApiError as error:
            log_api_error("chat.postEphemeral", error)

    @app.action(ACKNOWLEDGE)
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Staff take the case on."""
        await ack()
        if await staff_only(body):
            await step(body, cases.acknowledge(int(action["value"]), body["user"]["id"], once(body)))

    @app.action(ASSIGN)
    async def assign(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Staff hand the case to a colleague."""
        await ack()
        case_id = int(action["block_id"].removeprefix("case-"))
        if await staff_only(body):
            await step(body, cases.assign(case_id, body["user"]["id"], action["selected_user"], once(body)))

    @app.action(RESOLVE)
    async def open_resolve_form(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Opens the resolve form."""
        await ack()
        if not await staff_only(body):
            return
        case, _ = await cases.load(int(action["value"]))
        try:
            await services.client.views_open(
                trigger_id=body["trigger_id"], view=resolve_form(case, cases.desk.settings.root_causes)
            )
        except SlackApiError as error:
            log_api_error("views.open", error)

    @app.action(CONTACT)
    async def open_contact_form(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Opens the form to write to the customer."""
        await ack()
        if not await staff_only(body):
            return
        case, _ = await cases.load(int(action["value"]))
        try:
            await services.client.views_open(trigger_id=body["trigger_id"], view=contact_form(case))
        except SlackApiError as error:
            log_api_error("views.open", error)

    @app.view(CONTACT_FORM)
    async def contact(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Sends the staff's message to the customer through the bot."""
        if not await services.is_staff(body["user"]["id"]):
            await ack(response_action="errors", errors={MESSAGE_BLOCK: "Only staff can write to customers."})
            return
        message = view["state"]["values"][MESSAGE_BLOCK][FIELD].get("value") or ""
        try:
            await cases.contact(int(view["private_metadata"]), body["user"]["id"], message, once(body))
        except CaseError as error:
            await ack(response_action="errors", errors={MESSAGE_BLOCK: str(error)[:150]})
            return
        await ack()

    @app.view(RESOLVE_FORM)
    async def resolve(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Resolves the case with its corrective action and root cause; the customer hears the outcome."""
        if not await services.is_staff(body["user"]["id"]):
            await ack(response_action="errors", errors={ACTION_BLOCK: "Only staff can resolve cases."})
            return
        values = view["state"]["values"]
        cause = (values[CAUSE_BLOCK][FIELD].get("selected_option") or {}).get("value", "")
        try:
            await cases.resolve(
                int(view["private_metadata"]),
                body["user"]["id"],
                corrective_action=values[ACTION_BLOCK][FIELD].get("value") or "",
                root_cause=cause,
                message=values[MESSAGE_BLOCK][FIELD].get("value"),
                event=once(body),
            )
        except CaseError as error:
            await ack(response_action="errors", errors={ACTION_BLOCK: str(error)[:150]})
            return
        await ack()

    @app.action(OUTCOME_YES)
    @app.action(OUTCOME_NO)
    async def outcome(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """The customer's answer to "Is this resolved for you?"."""
        await ack()
        resolved = action["action_id"] == OUTCOME_YES
        user = body["user"]["id"]
        follow_up_key = services.engine.keys.follow_up_key(respondent(user))
        try:
            case = await cases.customer_answer(int(action["value"]), "slack", user, resolved, follow_up_key)
        except CaseError:
            await services.client.chat_postMessage(channel=user, text=translate("button_invalid", None))
            return
        text = translate("outcome_closed" if resolved else "outcome_reopened", None, number=case.id)
        container = body.get("container", {})
        if container.get("type") == "message":
            await services.client.chat_update(
                channel=container["channel_id"], ts=container["message_ts"], text=text, blocks=[section(text)]
            )
        else:  # answered on App Home, anonymously: the answer is acknowledged in the DM
            await services.client.chat_postMessage(channel=user, text=text)


def once(body: dict[str, Any]) -> EventKey:
    """The request's key: a staff step is applied once per request, however often Slack delivers it."""
    return EventKey(CHANNEL, event_key(body))


async def send(services: Services, cases: Cases, message: CaseMessage) -> SendResult:
    """The outbox's sender for Slack: case alerts, steps and notices for staff, outcomes for customers."""
    to_customer = isinstance(message, CaseContact | CaseResolution)
    where = message.platform_id if isinstance(message, CaseContact | CaseResolution) else message.target
    await services.pacer.wait(where)  # about 1 message/s a channel
    try:
        return await _send(services, cases, message)
    except CaseError as error:
        return Refused(str(error))
    except SlackApiError as error:
        return send_failure("chat.postMessage", error, to_person=to_customer)


async def _send(services: Services, cases: Cases, message: CaseMessage) -> SendResult:
    if isinstance(message, StaffNotice):  # of no case, as escaped plain text
        await services.client.chat_postMessage(
            channel=message.target, text=escaped(message.text)[:TEXT_LIMIT], blocks=[words(message.text)]
        )
        return Sent()
    case, customer = await cases.load(message.case_id)
    match message:
        case CaseAlert(target=target):
            answers = await cases.answers_of(case)
            posted = await services.client.chat_postMessage(
                channel=target, text=alert_fallback(case, answers), blocks=case_blocks(case, answers)
            )
            return Sent(str(posted["ts"]))
        case CaseUpdate(target=target, line=line):
            await update_staff_message(services, cases, case, target, trail_line(line))
        case CaseEscalation(target=target, line=line):  # the bot's words, with the operator's escalation mention
            await update_staff_message(services, cases, case, target, {"text": line})
        case CaseContact(platform_id=platform_id, message=staff_words):
            text = f"{translate('staff_message', None, number=case.id)}\n\n{staff_words}"
            await services.client.chat_postMessage(
                channel=platform_id, text=escaped(text)[:TEXT_LIMIT], blocks=[words(text)]
            )
        case CaseResolution(platform_id=platform_id, message=staff_words):
            text = outcome_text(case, customer.language if customer else None, staff_words)
            await services.client.chat_postMessage(
                channel=platform_id, text=escaped(text)[:TEXT_LIMIT], blocks=outcome_blocks(case, staff_words)
            )
    return Sent()


def alert_fallback(case: CaseView, answers: str | None) -> str:
    """The case message's `text` (notifications): the alert, escaped, since Slack reads it as mrkdwn."""
    return escaped(alert_text(case, answers))[:TEXT_LIMIT]


async def update_staff_message(
    services: Services, cases: Cases, case: CaseView, target: str, line: dict[str, Any]
) -> None:
    """The case's message shows its new state; the step (`line`: the message's text and blocks) goes in its thread,
    an escalation also where asked."""
    alert = await cases.staff_message(case.id, CHANNEL)
    if alert is not None:
        answers = await cases.answers_of(case)
        await services.client.chat_update(
            channel=alert.target,
            ts=alert.reference,
            text=alert_fallback(case, answers),
            blocks=case_blocks(case, answers),
        )
        await services.client.chat_postMessage(channel=alert.target, thread_ts=alert.reference, **line)
    if alert is None or target != alert.target:
        await services.client.chat_postMessage(channel=target, **line)
