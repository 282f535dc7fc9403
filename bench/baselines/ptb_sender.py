"""A minimal python-telegram-bot sender: the floor of bench/outbox_rate.py's ceiling phases, with no database.

Run: `python bench/baselines/ptb_sender.py TOKEN BASE_URL FIRST_CHAT COUNT [httpx|aiohttp]` (the bench's fake Bot
API). A `telegram.Bot` as the library's documentation sets it up, no rate limiter, a connection per send in flight: on
its default transport (HTTPXRequest), or on feedbackbot's (handlers/telegram/transport.py's AiohttpRequest, which the
bot uses since httpx cost more CPU than the rest of a sendMessage). It prints "ready" once the bot is initialised
(getMe), waits for a line on stdin, then sends COUNT sendMessage calls to the chats FIRST_CHAT on, IN_FLIGHT at once
as feedbackbot's dispatcher on PostgreSQL does, each an invitation's size (the csat question and its five score
buttons), and prints the CPU seconds (user + system) it spent from that line to its last answer.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.request import BaseRequest, HTTPXRequest

IN_FLIGHT = 16  # bot/outbox.py: 0.8 of PostgreSQL's pool of 20
TEXT = "Two quick questions about your experience.\n\nHow satisfied are you with our service?"


def keyboard(chat_id: int) -> InlineKeyboardMarkup:
    scores = [InlineKeyboardButton(str(n), callback_data=f"a|{chat_id}|satisfaction|{n}") for n in range(1, 6)]
    return InlineKeyboardMarkup([scores])


def transport(name: str) -> BaseRequest:
    if name == "aiohttp":
        from handlers.telegram.transport import AiohttpRequest

        return AiohttpRequest(connections=IN_FLIGHT, timeout=30.0, tls=ssl.create_default_context())
    return HTTPXRequest(connection_pool_size=IN_FLIGHT)


async def send(token: str, base_url: str, chats: range, request: BaseRequest) -> float:
    async with Bot(token, base_url=base_url, request=request) as bot:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.process_time()
        waiting = iter(chats)

        async def sender() -> None:
            for chat_id in waiting:
                await bot.send_message(chat_id, TEXT, reply_markup=keyboard(chat_id))

        await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
        return time.process_time() - started


if __name__ == "__main__":
    token, base_url, first, count = sys.argv[1:5]
    request = transport(sys.argv[5] if len(sys.argv) > 5 else "httpx")
    print(asyncio.run(send(token, base_url, range(int(first), int(first) + int(count)), request)), flush=True)
