"""The survey bot a team would write by hand instead of feedbackbot: python-telegram-bot's `conversationbot` example
turned into the shipped csat survey (score buttons, then a comment), each answer committed with `sqlite3`, the
comment scored with TextBlob.

Run: `python bench/baselines/handwritten_survey_bot.py TOKEN BASE_URL DATABASE_FILE`. It asks what feedbackbot asks
(the texts of surveys/csat.toml, in English) with the same Bot API calls per answer: a press is answered, the
question shows the chosen score, the next question follows. As in the example, updates are handled one at a time:
with `concurrent_updates(True)` ConversationHandler loses answers (a customer's next step arrives once the reply is
out, before the callback has returned its new state, and matches no handler of the old state). No rate limiter is set,
so Telegram's overall limit is lifted as for the other bots. SQLite runs as feedbackbot runs it: WAL,
synchronous=NORMAL, a commit per answer.
"""

from __future__ import annotations

import sqlite3
import sys
import tomllib
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from textblob import TextBlob

SURVEY = tomllib.loads((Path(__file__).resolve().parents[2] / "surveys" / "csat.toml").read_text(encoding="utf-8"))
SCORE, COMMENT = range(2)
LOW_SCORE = 2  # the survey's `when = "satisfaction <= 2"`
database: sqlite3.Connection


def text(key: str, question: int | None = None) -> str:
    texts = SURVEY[key] if question is None else SURVEY["questions"][question][key]
    return str(texts["en"])


def save(user_id: int, question: str, value: str, polarity: float | None = None) -> None:
    database.execute(
        "INSERT INTO answers (user_id, question, value, polarity) VALUES (?, ?, ?, ?)",
        (user_id, question, value, polarity),
    )
    database.commit()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    scores = [InlineKeyboardButton(str(n), callback_data=f"score:{n}") for n in range(1, 6)]
    question = f"{text('intro')}\n\n{text('text', 0)}\n1 = Very dissatisfied · 5 = Very satisfied"
    await update.message.reply_text(question, reply_markup=InlineKeyboardMarkup([scores]))
    return SCORE


async def score(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None and query.message is not None
    value = query.data.removeprefix("score:")
    save(query.from_user.id, "satisfaction", value)
    await query.answer()
    await query.edit_message_text(f"{getattr(query.message, 'text', '')}\n\n✅ {value}")
    follow_up = 1 if int(value) <= LOW_SCORE else 2
    await context.bot.send_message(query.message.chat.id, text("text", follow_up))
    return COMMENT


async def comment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and update.message.text is not None and update.effective_user is not None
    polarity = TextBlob(update.message.text).sentiment.polarity
    save(update.effective_user.id, "comment", update.message.text, polarity)
    await update.message.reply_text(text("thank_you"))
    return ConversationHandler.END


def main() -> None:
    global database
    token, base_url, database_file = sys.argv[1:4]
    database = sqlite3.connect(database_file)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    database.execute(
        "CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, question TEXT NOT NULL,"
        " value TEXT NOT NULL, polarity REAL, at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    application = Application.builder().token(token).base_url(base_url).build()
    survey = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={
            SCORE: [CallbackQueryHandler(score, pattern=r"^score:[1-5]$")],
            COMMENT: [MessageHandler(filters.TEXT & ~filters.COMMAND, comment)],
        },
        fallbacks=[CommandHandler("start", start)],
        per_message=False,
    )
    application.add_handler(survey)
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0, timeout=1)


if __name__ == "__main__":
    main()
