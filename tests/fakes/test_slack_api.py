"""Tests of the fake Slack Web API and the signed-request builders, driven by the real slack_sdk and slack_bolt."""

import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl

import httpx
import pytest
import slack_sdk.http_retry.builtin_async_handlers as retry_handlers
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes import slack_api
from tests.fakes.slack_api import (
    SPEC_PATH,
    TOKEN,
    FakeSlack,
    Params,
    SlackSpec,
    block_errors,
)
from tests.fakes.slack_signing import (
    BOT_USER_ID,
    CHANNEL_ID,
    SIGNING_SECRET,
    TEAM_ID,
    USER_ID,
    app_home_opened,
    block_actions,
    event_callback,
    message_im,
    sign,
    slash_command,
    text_value,
    view_submission,
)

fake_slack = slack_api.fake_slack  # the fixture (tests/fakes/conftest.py belongs to the Telegram fake's tests)
SAMPLES = SPEC_PATH.parents[1] / "samples" / "slack"
RATING = [
    HeaderBlock(text="How was your visit?"),
    SectionBlock(text="*Rate us*", accessory=ButtonElement(text="Details", action_id="details", value="d")),
    ActionsBlock(elements=[ButtonElement(text=str(n), action_id=f"rate_{n}", value=str(n)) for n in (1, 5)]),
    DividerBlock(),
]
MODAL = View(
    type="modal",
    callback_id="comment",
    title="Feedback",
    submit="Send",
    blocks=[InputBlock(label="Comment", block_id="c", element=PlainTextInputElement(action_id="text"))],
)


def client_for(fake: FakeSlack, **options: object) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.base_url, **options)  # type: ignore[arg-type]


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


# signing


def test_sign_reproduces_the_official_test_vector() -> None:
    vector = json.loads((SAMPLES / "official_signing_test_vector.json").read_text())
    headers = sign(vector["body"], vector["signing_secret"], int(vector["timestamp"]))
    assert headers == {
        "X-Slack-Request-Timestamp": vector["timestamp"],
        "X-Slack-Signature": vector["expected_signature"],
    }
    assert sign(vector["body"].encode(), vector["signing_secret"], int(vector["timestamp"])) == headers
    verifier = SignatureVerifier(vector["signing_secret"], clock=FixedClock(int(vector["timestamp"]) + 10))
    assert verifier.is_valid_request(vector["body"], headers)
    assert not verifier.is_valid_request(vector["body"] + "&x=1", headers)
    assert not SignatureVerifier(vector["signing_secret"]).is_valid_request(vector["body"], headers)  # stale


def test_builders_sign_for_now_and_parse_like_bolt() -> None:
    command = slash_command("/feedback", "the app crashed", trigger_id="1.2.3")
    headers = command.headers(retry=2)
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(command.body, headers)
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("2", "http_timeout")
    sample = dict(parse_qsl((SAMPLES / "bolt_slash_command.form.txt").read_text()))
    assert set(command.payload) - set(sample) == {"api_app_id", "is_enterprise_install"}
    assert command.payload["text"] == "the app crashed" and "enterprise_id" not in command.payload
    click = block_actions("rate_5", "5").payload
    assert (click["type"], click["actions"][0]["value"], click["container"]["channel_id"]) == (
        "block_actions",
        "5",
        "C111",
    )
    submitted = view_submission("comment", {"c": {"text": text_value("slow")}}).payload
    assert submitted["view"]["state"]["values"]["c"]["text"]["value"] == "slow"
    wrapper = json.loads((SPEC_PATH.parent / "slack-events-api.asyncapi.json").read_text())
    required = wrapper["components"]["schemas"]["GenericEventWrapper"]["required"]
    envelope = event_callback(message_im("hi")).payload
    assert set(required) <= set(envelope) and envelope["event"]["channel_type"] == "im"
    assert event_callback(app_home_opened()).payload["event_id"] != envelope["event_id"]


# the Web API


async def test_post_message_round_trips_block_kit(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    first = await client.chat_postMessage(channel=CHANNEL_ID, text="How was it?", blocks=RATING)
    second = await client.chat_postMessage(channel=USER_ID, text="Thanks!")  # a user id: the app's DM

    assert first["message"]["blocks"] == [b.to_dict() for b in RATING]
    assert (first["channel"], first["message"]["user"]) == (CHANNEL_ID, BOT_USER_ID)
    assert second["channel"] == fake_slack.im_channel(USER_ID) == "DW111"
    third = await client.chat_postMessage(channel=second["channel"], text="Bye")
    assert float(third["ts"]) > float(second["ts"])
    assert [m["text"] for m in fake_slack.messages(USER_ID)] == ["Thanks!", "Bye"]
    call = fake_slack.calls_of("chat.postMessage")[0]
    assert call.args["blocks"][2]["elements"][1]["value"] == "5"  # sent as JSON, not form-encoded
    form = {"channel": CHANNEL_ID, "text": "form", "blocks": json.dumps([DividerBlock().to_dict()])}
    await client.api_call("chat.postMessage", data=form)  # form-encoded: blocks arrive as a JSON string
    assert fake_slack.last_message(CHANNEL_ID)["blocks"] == [{"type": "divider"}]
    auth = await client.auth_test()
    assert (auth["user_id"], auth["team_id"], auth.headers["X-OAuth-Scopes"].startswith("chat:write")) == (
        BOT_USER_ID,
        TEAM_ID,
        True,
    )


async def test_update_ephemeral_permalink_and_reaction(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    posted = await client.chat_postMessage(channel=CHANNEL_ID, text="Rate us", blocks=RATING)
    await client.chat_update(channel=CHANNEL_ID, ts=posted["ts"], text="Thanks for rating", blocks=[])
    assert fake_slack.last_message(CHANNEL_ID)["text"] == "Thanks for rating"
    assert "blocks" not in fake_slack.last_message(CHANNEL_ID)
    ephemeral = await client.chat_postEphemeral(channel=CHANNEL_ID, user=USER_ID, text="Only you")
    assert fake_slack.ephemeral == [(CHANNEL_ID, USER_ID, fake_slack.ephemeral[0][2])]
    assert ephemeral["message_ts"]
    link = await client.chat_getPermalink(channel=CHANNEL_ID, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/C111/p{posted['ts'].replace('.', '')}")
    await client.reactions_add(channel=CHANNEL_ID, name="white_check_mark", timestamp=posted["ts"])
    with pytest.raises(SlackApiError) as again:
        await client.reactions_add(channel=CHANNEL_ID, name="white_check_mark", timestamp=posted["ts"])
    assert again.value.response["error"] == "already_reacted"
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel=CHANNEL_ID, ts="1.000001", text="x")


async def test_conversations_and_users(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    fake_slack.add_user("U2", "ann", real_name="Ann Lee", tz="Europe/Berlin")
    fake_slack.add_channel("C2", "staff", members=[f"U{n}" for n in range(2, 7)])
    fake_slack.add_channel("C3", "elsewhere", bot_member=False)
    opened = await client.conversations_open(users="U2")
    assert opened["channel"]["id"] == "DU2" and "already_open" not in opened
    again = await client.conversations_open(users=["U2"], return_im=True)
    assert (again["channel"]["is_im"], again["channel"]["user"], again["already_open"]) == (True, "U2", True)
    pages = [page["members"] async for page in await client.conversations_members(channel="C2", limit=4)]
    assert pages == [[BOT_USER_ID, "U2", "U3", "U4"], ["U5", "U6"]]
    info = await client.conversations_info(channel="C2", include_num_members=True)
    assert (info["channel"]["name"], info["channel"]["num_members"], info["channel"]["is_member"]) == ("staff", 6, True)
    assert (await client.users_info(user="U2"))["user"]["tz"] == "Europe/Berlin"
    for call, error in [
        (client.users_info(user="U404"), "user_not_found"),
        (client.conversations_open(users="U404"), "user_not_found"),
        (client.chat_postMessage(channel="C404", text="hi"), "channel_not_found"),
        (client.chat_postMessage(channel="C3", text="hi"), "not_in_channel"),
    ]:
        with pytest.raises(SlackApiError) as raised:
            await call
        assert (raised.value.response.status_code, raised.value.response["error"]) == (200, error)


async def test_views_open_update_push_and_publish(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    opened = (await client.views_open(trigger_id="1.2.abc", view=MODAL))["view"]
    assert (opened["callback_id"], opened["root_view_id"]) == ("comment", opened["id"])
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        await client.views_open(trigger_id="1.2.abc", view=MODAL)
    updated = (await client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)
    await client.views_push(trigger_id="1.2.def", view=MODAL)
    home = View(type="home", blocks=[SectionBlock(text="Your open surveys")])
    first = (await client.views_publish(user_id=USER_ID, view=home))["view"]
    again = (await client.views_publish(user_id=USER_ID, view=home, hash=first["hash"]))["view"]
    assert again["id"] == first["id"] and fake_slack.published_home(USER_ID) == again
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client.views_publish(user_id=USER_ID, view=MODAL)
    assert "view.type must be 'home'" in fake_slack.pop_violations()[0].description


# violations


@pytest.mark.parametrize(
    ("method", "args", "error", "fragment"),
    [
        ("chat.fly", {"channel": CHANNEL_ID}, "unknown_method", "unknown method chat.fly"),
        ("chat.postMessage", {"text": "hi"}, "invalid_arguments", "missing required field: channel"),
        ("chat.postMessage", {"channel": CHANNEL_ID, "text": "hi", "colour": "red"}, "invalid_arguments", "colour"),
        ("chat.postMessage", {"channel": CHANNEL_ID}, "no_text", "needs text"),
        ("users.info", {"user": USER_ID, "token": "xoxb-wrong"}, "invalid_auth", "wrong token"),
        ("chat.delete", {"channel": CHANNEL_ID, "ts": "1.000001"}, "fake_not_implemented", "fake does not implement"),
    ],
)
async def test_bad_calls_are_violations(
    fake_slack: FakeSlack, method: str, args: Params, error: str, fragment: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client_for(fake_slack).api_call(method, json=args)
    assert (raised.value.response.status_code, raised.value.response["error"]) == (200, error)
    assert fake_slack.expect_violation(fragment).method == method
    assert fake_slack.violations == []


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ({"type": "carousel_of_doom"}, "unknown block type 'carousel_of_doom'"),
        (SectionBlock(text="x").to_dict() | {"text": {"type": "mrkdwn", "text": "x" * 3001}}, "3000 characters"),
        ({"type": "section", "text": "plain string"}, "blocks[0].text: sent 'plain string'"),
        ({"type": "section", "txt": {"type": "mrkdwn", "text": "typo"}}, "text or fields"),
        ({"type": "divider", "colour": "red"}, "unknown field(s) colour"),
        ({"type": "actions", "elements": [{"type": "buttn", "action_id": "a"}]}, "elements[0]: unknown element type"),
    ],
)
async def test_invalid_blocks_are_violations(fake_slack: FakeSlack, block: Params, fragment: str) -> None:
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await client_for(fake_slack).chat_postMessage(channel=CHANNEL_ID, text="x", blocks=[block])
    assert fake_slack.expect_violation(fragment).method == "chat.postMessage"
    assert fake_slack.messages(CHANNEL_ID) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"title": None}, "title is required"),
        ({"submit": None}, "submit is required with input blocks"),
        ({"title": {"type": "mrkdwn", "text": "Feedback"}}, "title must be plain_text"),
        ({"title": {"type": "plain_text", "text": "A title far longer than 24"}}, "between 1 and 24 characters"),
        ({"id": "V1", "app_installed_team_id": TEAM_ID}, "unknown field(s) app_installed_team_id"),
        ({"blocks": [{"type": "input", "label": {"type": "plain_text", "text": "x"}}]}, "missing 1 required"),
    ],
)
async def test_invalid_views_are_violations(fake_slack: FakeSlack, change: Params, fragment: str) -> None:
    view = {k: v for k, v in (MODAL.to_dict() | change).items() if v is not None}
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client_for(fake_slack).views_open(trigger_id="1.2.3", view=view)
    assert fake_slack.expect_violation(fragment).method == "views.open"


def test_block_limits_and_the_spec_gaps() -> None:
    assert block_errors([DividerBlock().to_dict()] * 51) == ["blocks: more than 50 blocks"]
    assert block_errors(json.dumps([DividerBlock().to_dict()])) == []  # form-encoded calls send JSON strings
    spec = SlackSpec.load()
    assert spec.check("chat.postMessage", {"channel": "C1", "metadata": {}, "team_id": TEAM_ID}) == []
    assert spec.check("views.publish", {"user_id": "U1", "view": {}}) == []  # `token` is not required as an argument


async def test_leftover_violations_fail_the_test() -> None:
    async with FakeSlack() as fake, httpx.AsyncClient() as http:
        response = await http.post(f"{fake.base_url}chat.postMessage", data={"channel": "C111", "text": "hi"})
    assert response.json() == {
        "ok": False,
        "error": "not_authed",
        "response_metadata": {"messages": ["[ERROR] no token: neither Authorization: Bearer nor a token argument"]},
    }
    with pytest.raises(pytest.fail.Exception, match="no token"):
        fake.assert_clean()


# failures


async def test_rate_limit_surfaces_with_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", retry_after=30)
    with pytest.raises(SlackApiError) as raised:
        await client_for(fake_slack).chat_postMessage(channel=CHANNEL_ID, text="hi")
    response = raised.value.response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "30")
    assert fake_slack.messages(CHANNEL_ID) == []


async def test_rate_limit_retry_handler_retries(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(retry_handlers, "asyncio", SimpleNamespace(sleep=no_sleep))  # only the handler's sleep
    fake_slack.fail("chat.postMessage", retry_after=30)
    client = client_for(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    assert (await client.chat_postMessage(channel=CHANNEL_ID, text="hi"))["ok"]
    assert len(fake_slack.calls_of("chat.postMessage")) == 2 and len(fake_slack.messages(CHANNEL_ID)) == 1
    assert 30 <= slept[0] < 31  # Retry-After plus up to 1 s of jitter


async def test_injected_errors_and_delays(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack, timeout=1)
    fake_slack.fail("chat.postMessage", "channel_not_found")
    fake_slack.fail("users.info", status=503, times=2)
    with pytest.raises(SlackApiError) as not_found:
        await client.chat_postMessage(channel=CHANNEL_ID, text="hi")
    assert (not_found.value.response.status_code, not_found.value.response["error"]) == (200, "channel_not_found")
    for _ in range(2):
        with pytest.raises(SlackApiError) as unavailable:
            await client.users_info(user=USER_ID)
        assert unavailable.value.response.status_code == 503
    assert (await client.users_info(user=USER_ID))["user"]["name"] == "primary-owner"
    fake_slack.delay("chat.postMessage", 1.5)
    with pytest.raises(TimeoutError):
        await client.chat_postMessage(channel=CHANNEL_ID, text="slow")
    assert await fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL_ID)) != []


# bolt over Starlette, end to end


def bolt_app(fake: FakeSlack) -> tuple[httpx.AsyncClient, AsyncApp]:
    app = AsyncApp(client=client_for(fake), signing_secret=SIGNING_SECRET)
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    api = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot"), app


async def test_bolt_accepts_the_signed_builders(fake_slack: FakeSlack) -> None:
    http, app = bolt_app(fake_slack)

    @app.command("/feedback")
    async def command(ack: AsyncAck, say: AsyncSay, respond: AsyncRespond, command: Params) -> None:
        await ack()
        await say(text=f"Got: {command['text']}", blocks=RATING)
        await respond(text="Noted")

    @app.action("rate_5")
    async def rated(ack: AsyncAck, body: Params, client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.event("message")
    async def dm(event: Params, say: AsyncSay) -> None:
        await say(text=f"Echo: {event['text']}")

    async with http:
        command_request = slash_command("/feedback", "slow app", response_url=fake_slack.response_url("cmd"))
        unsigned = await http.post("/slack/events", content=command_request.body)
        assert unsigned.status_code == 401
        for request in (command_request, block_actions("rate_5", "5"), event_callback(message_im("hello"))):
            response = await http.post("/slack/events", content=request.body, headers=request.headers())
            assert response.status_code == 200

    await fake_slack.wait_for(lambda: fake_slack.messages(USER_ID) and fake_slack.responded("cmd"))
    assert [m["text"] for m in fake_slack.messages(CHANNEL_ID)] == ["Got: slow app"]
    assert fake_slack.responded("cmd") == [{"text": "Noted"}]
    assert fake_slack.messages(USER_ID)[0]["text"] == "Echo: hello"
    assert fake_slack.calls_of("views.open")[0].args["team_id"] == TEAM_ID  # bolt's per-request client adds team_id
    assert [c.method for c in fake_slack.calls].count("auth.test") == 1


def test_samples_match_the_builders_shape() -> None:
    sample = json.loads((SAMPLES / "bolt_view_submission.json").read_text())
    built = view_submission("view-id", sample["view"]["state"]["values"]).payload
    assert set(built) == set(sample) and set(built["view"]) == set(sample["view"])
    assert Path(SPEC_PATH).exists() and TOKEN.startswith("xoxb-")
