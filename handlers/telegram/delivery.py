"""Sending to Telegram within its limits: paced per chat, retried on 429, 5xx and network errors, stopped by 403."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

import aiohttp
import httpx
from telegram import Bot, CallbackQuery, ForceReply, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.events import Respondent
from bot.outbound import Outcome, RetryLater, SendCounts, SendResult, Sent, Unreachable
from bot.pacing import Pacer
from bot.prompts import Notice, NoticeKind, Reply
from bot.replies import Progress, Replies
from handlers.telegram import render
from handlers.telegram.inbox import CHANNEL

T = TypeVar("T")
Step = Callable[[], Awaitable[object]]
log = logging.getLogger(__name__)
PER_CHAT_INTERVAL = 1.0  # Telegram: about one message per second in a chat, on average
PER_CHAT_BURST = 3  # a short burst is tolerated, so a quick answerer never waits
ATTEMPTS = 6
FIRST_BACKOFF = 0.5
FLOOD_MARGIN = 0.25  # seconds added to a 429's retry_after: Telegram extends the ban for a call that comes early
MESSAGE_LIMIT = 4096  # characters in one Telegram message; a longer one is refused
CAPTION_LIMIT = 1024  # characters in a photo's caption
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a link in a customer's words gets no preview card
# A send repeated after it reached Telegram shows the message twice; an edit or an answer repeated changes nothing.
NOT_REPEATABLE = frozenset({"sendMessage", "sendPhoto"})
# PTB's AIORateLimiter (max_retries=0) logs every 429 as an error with a traceback before re-raising it; the
# Sender waits it out and says so in one line.
logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


class DeliveryFailed(Exception):
    """Telegram kept failing: the update stays unhandled in the inbox and is tried again later."""


class Blocked(Exception):
    """The user blocked the bot (403)."""


class FloodWait:
    """Telegram's 429 is bot-wide: until the time it asked has passed, no call of the bot goes out."""

    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() when calls may go out again

    def hold(self, retry_after: int | timedelta) -> bool:
        """Pauses every call for the time asked plus a margin; True when this starts a new pause."""
        starts = not self.active()
        self.until = max(self.until, time.monotonic() + _seconds(retry_after) + FLOOD_MARGIN)
        return starts

    def active(self) -> bool:
        return time.monotonic() < self.until

    async def wait(self) -> None:
        while (left := self.until - time.monotonic()) > 0:  # noqa: ASYNC110  (a 429 meanwhile extends the wait)
            await asyncio.sleep(left)


class Sender:
    """Every Bot API call that sends goes through here (AIORateLimiter adds the overall and group limits)."""

    def __init__(
        self, bot: Bot, per_chat_interval: float = PER_CHAT_INTERVAL, counts: SendCounts | None = None
    ) -> None:
        self.bot = bot
        self.counts = SendCounts() if counts is None else counts  # of the 429s waited out, for /metrics
        self.pacer = Pacer(per_chat_interval, PER_CHAT_BURST)
        self.flood = FloodWait()

    async def call(self, method: str, chat_id: int, send: Callable[[], Awaitable[T]], paced: bool = True) -> T | None:
        """One call with retries; None when Telegram refused it for good (400, logged) or it probably went through.
        Its lines name no chat (in a private chat, the person's id): the correlation id ties them to their update.

        A flood wait (429) is not a failure: it holds every call of the bot and does not count as an attempt.
        """
        failures = 0
        while True:
            if paced:
                await self.pacer.wait(chat_id)
            await self.flood.wait()
            try:
                return await send()
            except BadRequest as error:
                log.warning("telegram %s refused, not retried: %s", method, error.message)
                return None
            except Forbidden as error:
                raise Blocked(error.message) from error
            except RetryAfter as error:
                self.counts[CHANNEL, Outcome.RATE_LIMITED] += 1
                if self.flood.hold(error.retry_after):
                    log.info("telegram flood limit on %s: every send waits %s s", method, _seconds(error.retry_after))
            except NetworkError as error:  # 5xx, timeouts, connection errors
                if method in NOT_REPEATABLE and _reached_telegram(error):
                    log.info("telegram %s: no answer in time, probably sent; not repeated", method)
                    return None
                failures += 1
                if failures == ATTEMPTS:
                    raise DeliveryFailed(f"telegram {method} failed {ATTEMPTS} times") from error
                log.info("telegram %s failed (%s), retrying", method, error.message)
                await asyncio.sleep(FIRST_BACKOFF * 2 ** (failures - 1))

    async def send(
        self, chat_id: int, text: str, keyboard: InlineKeyboardMarkup | ForceReply | None = None
    ) -> Message | None:
        """Sends a text, cut to one message: longer ones Telegram refuses for good."""
        text = text[:MESSAGE_LIMIT]
        return await self.call(
            "sendMessage",
            chat_id,
            lambda: self.bot.send_message(chat_id, text, reply_markup=keyboard, link_preview_options=NO_PREVIEW),
        )

    async def send_photo(self, chat_id: int, photo: bytes, caption: str) -> Message | None:
        """Uploads an image with its caption, cut to the caption limit."""
        caption = caption[:CAPTION_LIMIT]
        return await self.call("sendPhoto", chat_id, lambda: self.bot.send_photo(chat_id, photo, caption=caption))

    async def edit(self, message: Message, text: str) -> None:
        """Replaces a message's text and removes its keyboard."""
        text = text[:MESSAGE_LIMIT]
        await self.call(
            "editMessageText",
            message.chat_id,
            lambda: message.edit_text(text, link_preview_options=NO_PREVIEW),
            paced=False,
        )

    async def edit_by_id(
        self, chat_id: int, message_id: int, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        """Replaces the text (and keyboard) of a message the bot sent earlier."""
        text = text[:MESSAGE_LIMIT]
        await self.call(
            "editMessageText",
            chat_id,
            lambda: self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard, link_preview_options=NO_PREVIEW
            ),
            paced=False,
        )

    async def answer_query(self, query: CallbackQuery, text: str | None = None) -> None:
        """Stops the button's spinner; an expired query is not worth a retry."""
        await self.call("answerCallbackQuery", query.from_user.id, lambda: query.answer(text), paced=False)


def _reached_telegram(error: NetworkError) -> bool:
    """A read timeout: the request went out whole and only the answer is missing.

    The transports raise TimedOut for every timeout; connect and pool timeouts (and connection errors) never sent
    it. The channel's calls go over aiohttp (handlers/telegram/transport.py); a Bot on PTB's default over httpx.
    """
    read_timeouts = (aiohttp.SocketTimeoutError, httpx.ReadTimeout)
    return isinstance(error, TimedOut) and isinstance(error.__cause__, read_timeouts)


def _seconds(retry_after: int | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)


class Delivery:
    """Telegram's side of sending a reply once: renders it into steps and says what became of each; `Replies` skips
    what was sent, sends the rest and records each send."""

    def __init__(self, replies: Replies, sender: Sender) -> None:
        self.replies = replies
        self.sender = sender
        self.unreachable: set[str] = set()  # people who blocked the bot; loaded at start, kept up to date

    async def load_unreachable(self) -> None:
        self.unreachable = await self.replies.unreachable_ids(CHANNEL)

    async def set_reachable(self, who: Respondent, reachable: bool) -> None:
        """Remembers whether Telegram delivers to this person, here and in the database."""
        if reachable:
            self.unreachable.discard(who.user_id)
        else:
            self.unreachable.add(who.user_id)
        await self.replies.set_reachable(who, reachable)

    async def deliver(self, event_id: str, who: Respondent, reply: Reply, pressed: CallbackQuery | None = None) -> None:
        """Sends the reply to the person, skipping what was already sent; nothing to a person who blocked the bot."""
        if pressed is not None:
            await self.sender.answer_query(pressed, _refusal(reply))
        steps = self._steps(int(who.user_id), reply, pressed)
        sends = [partial(self._take, step, who) for step in steps]
        _raise_if_stopped(await self.replies.send(CHANNEL, event_id, sends, to=who, redelivered=reply.duplicate))

    async def reply_once(self, event_id: str, steps: list[Step], to: Respondent | None = None) -> None:
        """Sends what the channel answers by itself (help, lists, staff prompts) once per update, recorded like the
        engine's replies. `to`: the person the steps write to; None for the staff chat."""
        sends = [partial(self._take, step, to) for step in steps]
        _raise_if_stopped(await self.replies.send_direct(CHANNEL, event_id, sends, to=to))

    async def _take(self, step: Step, to: Respondent | None) -> SendResult:
        """Runs one step. A chat refusing the bot (403) stops a person's reply; the staff chat's fails the update."""
        if to is not None and to.user_id in self.unreachable:
            return Unreachable("blocked the bot earlier")
        try:
            await step()
        except DeliveryFailed as error:
            return RetryLater(str(error))
        except Blocked as error:
            if to is None:  # the staff chat refuses the bot: the update fails, to be tried again
                raise
            self.unreachable.add(to.user_id)
            return Unreachable(f"blocked the bot: {error}")
        return Sent()

    def _steps(self, chat_id: int, reply: Reply, pressed: CallbackQuery | None) -> list[Step]:
        """The reply's messages, the first after the pressed question shows its answer. That edit shares the first
        message's step (and its record): repeated after a failure or a crash, it changes nothing."""
        steps: list[Step] = [
            partial(self.sender.send, chat_id, message.text, message.keyboard)
            for message in render.messages_for(reply, skip_refusals=pressed is not None)
        ]
        if pressed is not None and _refusal(reply) is None and isinstance(pressed.message, Message):
            show = partial(self._show_choice, pressed)
            steps[:1] = [partial(_one_after_another, show, *steps[:1])]
        return steps

    async def _show_choice(self, pressed: CallbackQuery) -> None:
        """The question message shows the chosen answer and loses its keyboard, so no stale button stays live."""
        message = pressed.message
        assert isinstance(message, Message) and pressed.data is not None
        label = render.chosen_label(message.reply_markup, pressed.data) or pressed.data
        await self.sender.edit(message, f"{message.text}\n\n✅ {label}")


async def _one_after_another(*steps: Step) -> None:
    for step in steps:
        await step()


def _raise_if_stopped(progress: Progress) -> None:
    """A reply cut short by Telegram's failures fails its update: the inbox tries it again, sending only the rest."""
    if progress.stopped is not None:
        raise DeliveryFailed(progress.stopped.reason)


def _refusal(reply: Reply) -> str | None:
    """The text of a refused button press, shown on the button's answer instead of as a message."""
    first = reply.prompts[0] if reply.prompts else None
    return first.text if isinstance(first, Notice) and first.kind == NoticeKind.REFUSAL else None
