"""The bare echo bot of python-telegram-bot's examples (echobot.py), the floor of what any bot on the library costs.

Run: `python bench/baselines/echo_bot.py TOKEN BASE_URL`. As in the example, updates are handled one at a time (with
`concurrent_updates(True)` and 200 customers at once it was slower here: httpcore's pool bookkeeping grows with the
requests in flight). No rate limiter is set, so Telegram's overall limit is lifted as for the other bots.
"""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def main() -> None:
    token, base_url = sys.argv[1:3]
    application = Application.builder().token(token).base_url(base_url).build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0, timeout=1)


if __name__ == "__main__":
    main()
