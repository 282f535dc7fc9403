"""Slack employees are answered in their own language, their Slack client's locale, as Telegram users are."""

from __future__ import annotations

import time

import pytest

from handlers.slack import common
from tests.fakes.slack_signing import USER_ID, USER_NAME, event_callback, message_im, slash_command
from tests.handlers.slack.conftest import SlackWorkspace, press, start_from_home


async def test_a_survey_started_from_app_home_is_asked_in_the_employees_language(slack: SlackWorkspace) -> None:
    slack.fake.add_user(USER_ID, USER_NAME, locale="es-ES")
    question = await start_from_home(slack, "csat")
    assert "¿Qué tan satisfecho está con nuestro servicio?" in question["blocks"][0]["text"]["text"]
    await press(slack, question, "5")
    comment = await slack.settle(lambda: [m for m in slack.fake.messages(USER_ID) if m.get("thread_ts")])
    assert "¿Hay algo que podamos mejorar?" in comment[-1]["text"]
    await slack.post(event_callback(message_im("Nada", ts=f"{time.time():.6f}") | {"thread_ts": question["ts"]}))
    await slack.settle(lambda: any(m.get("text") == "¡Gracias por su opinión!" for m in slack.fake.messages(USER_ID)))
    # Asked once, then remembered: not a call to Slack per answer.
    assert [call.args.get("include_locale") for call in slack.fake.calls if call.method == "users.info"] == ["1"]


async def test_the_feedback_form_opens_in_the_employees_language(slack: SlackWorkspace) -> None:
    slack.fake.add_user(USER_ID, USER_NAME, locale="ru-RU")
    assert (await slack.post(slash_command("/feedback"))).status_code == 200
    opened = await slack.settle(lambda: [call for call in slack.fake.calls if call.method == "views.open"])
    view = opened[0].args["view"]
    assert view["title"]["text"] == "Отзыв о внутреннем сервисе"[:24]  # noqa: RUF001


async def test_without_a_locale_from_slack_the_survey_speaks_its_fallback_language(slack: SlackWorkspace) -> None:
    slack.fake.fail("users.info", "user_not_found")
    question = await start_from_home(slack, "csat")
    assert "How satisfied are you with our service?" in question["blocks"][0]["text"]["text"]


async def test_a_slow_users_info_is_not_waited_for_past_a_second(slack: SlackWorkspace) -> None:
    slack.fake.add_user(USER_ID, USER_NAME, locale="es-ES")
    slack.fake.delay("users.info", 3)
    question = await start_from_home(slack, "csat")
    assert "How satisfied are you with our service?" in question["blocks"][0]["text"]["text"]


async def test_the_locales_kept_are_bounded_to_the_people_asked_within_the_hour(
    slack: SlackWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "LOCALES_KEPT", 2)
    locales = slack.channel.services.locales
    locales.update({"UGONE1": (time.monotonic() - 7200, "fr-FR"), "UGONE2": (time.monotonic() - 3700, None)})
    locales["URECENT"] = (time.monotonic() - 60, "de-DE")
    slack.fake.add_user(USER_ID, USER_NAME, locale="es-ES")
    question = await start_from_home(slack, "csat")
    assert "¿Qué tan satisfecho está con nuestro servicio?" in question["blocks"][0]["text"]["text"]
    assert sorted(slack.channel.services.locales) == sorted([USER_ID, "URECENT"])
