"""The fake Slack (tests/fakes/slack.py) as the real slack_sdk and slack_bolt see it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack


def _client(fake: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, **kwargs)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# -- Web API --


async def test_post_message_is_recorded_with_token_decoded_params_and_slack_shaped_reply(
    fake_slack: FakeSlack,
) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Port strike"}},
        _section("• Dockworkers extend the strike [1][2]"),
    ]
    metadata = {"event_type": "briefing_posted", "event_payload": {"story_id": "s-1"}}

    reply = await _client(fake_slack).chat_postMessage(
        channel="C0NEWS00001",
        text="Port strike",
        blocks=blocks,
        metadata=metadata,
        unfurl_links=False,
    )

    assert reply["ok"] is True
    assert reply["channel"] == "C0NEWS00001"
    assert reply["ts"] == fake_slack.posted()[0]["ts"]
    assert abs(float(reply["ts"]) - time.time()) < 3600  # the posting time, as Slack's are
    assert reply["message"]["bot_id"] == fake_slack.bot_id
    assert reply["message"]["blocks"] == blocks
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.token == fake_slack.bot_token
    assert call.params["blocks"] == blocks
    assert call.params["metadata"] == metadata
    assert call.params["unfurl_links"] is False
    [posted] = fake_slack.posted("C0NEWS00001")
    assert posted["text"] == "Port strike"
    assert posted["metadata"] == metadata


async def test_form_encoded_blocks_are_decoded_and_timestamps_increase(
    fake_slack: FakeSlack,
) -> None:
    client = _client(fake_slack)
    blocks = [_section("first")]

    first = await client.api_call(
        "chat.postMessage", data={"channel": "C0NEWS00001", "blocks": json.dumps(blocks)}
    )
    second = await client.chat_postMessage(channel="C0NEWS00001", text="second")

    assert fake_slack.calls_to("chat.postMessage")[0].params["blocks"] == blocks
    assert float(second["ts"]) > float(first["ts"])


async def test_thread_replies_and_history_with_metadata_only_when_asked(
    fake_slack: FakeSlack,
) -> None:
    client = _client(fake_slack)
    metadata = {"event_type": "briefing_posted", "event_payload": {"story_id": "s-1"}}
    parent = await client.chat_postMessage(channel="C0NEWS00001", text="brief", metadata=metadata)
    reply = await client.chat_postMessage(
        channel="C0NEWS00001", text="follow-up", thread_ts=parent["ts"]
    )

    plain = await client.conversations_history(channel="C0NEWS00001")
    full = await client.conversations_history(channel="C0NEWS00001", include_all_metadata=True)
    thread = await client.conversations_replies(channel="C0NEWS00001", ts=parent["ts"])

    assert [m["ts"] for m in plain["messages"]] == [parent["ts"]]  # replies stay in the thread
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == metadata
    assert full["messages"][0]["reply_count"] == 1
    assert [m["text"] for m in thread["messages"]] == ["brief", "follow-up"]
    assert [m["ts"] for m in fake_slack.posted("C0NEWS00001", thread_ts=parent["ts"])] == [
        reply["ts"]
    ]


async def test_update_ephemeral_and_reaction(fake_slack: FakeSlack) -> None:
    client = _client(fake_slack)
    posted = await client.chat_postMessage(channel="C0NEWS00001", text="draft")

    updated = await client.chat_update(channel="C0NEWS00001", ts=posted["ts"], text="final")
    ephemeral = await client.chat_postEphemeral(
        channel="C0NEWS00001", user=fake_slack.default_user, text="only you"
    )
    await client.reactions_add(channel="C0NEWS00001", timestamp=posted["ts"], name="newspaper")

    assert updated["text"] == "final"
    [message] = fake_slack.posted("C0NEWS00001")
    assert message["text"] == "final"
    assert message["reactions"] == [
        {"name": "newspaper", "users": [fake_slack.bot_user_id], "count": 1}
    ]
    assert ephemeral["message_ts"] == fake_slack.ephemerals[0]["ts"]
    with pytest.raises(SlackApiError) as raised:
        await client.reactions_add(channel="C0NEWS00001", timestamp=posted["ts"], name="newspaper")
    assert raised.value.response["error"] == "already_reacted"


async def test_auth_test_users_and_channels_answer_in_slack_shapes(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.add_user("U0ADMIN0001", "sam", is_admin=True)
    fake_slack.add_channel("C0PRIV00001", "newsroom", is_private=True)
    client = _client(fake_slack)

    auth = await client.auth_test()
    admin = await client.users_info(user="U0ADMIN0001")
    member = await client.users_info(user=fake_slack.default_user)
    channel = await client.conversations_info(channel="C0PRIV00001")

    assert {k: auth[k] for k in ("team_id", "user_id", "bot_id", "user")} == {
        "team_id": fake_slack.team_id,
        "user_id": fake_slack.bot_user_id,
        "bot_id": fake_slack.bot_id,
        "user": fake_slack.bot_name,
    }
    assert auth["url"] == "https://briefbot-test.slack.com/"
    assert (admin["user"]["is_admin"], admin["user"]["is_owner"]) == (True, False)
    assert member["user"]["is_admin"] is False
    assert channel["channel"]["is_private"] is True
    assert channel["channel"]["name"] == "newsroom"
    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user="U0NOBODY001")
    assert raised.value.response["error"] == "user_not_found"


async def test_rate_limited_call_is_retried_after_retry_after_and_then_succeeds(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.rate_limit_next("chat.postMessage", retry_after=0)
    client = _client(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(1)])

    reply = await client.chat_postMessage(channel="C0NEWS00001", text="hello")

    first, second = fake_slack.calls_to("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok
    assert [m["ts"] for m in fake_slack.posted()] == [reply["ts"]]  # the refused one posted nothing


async def test_rate_limited_call_without_retry_handler_raises_with_retry_after(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.rate_limit_next("chat.postMessage", retry_after=30)

    with pytest.raises(SlackApiError) as raised:
        await _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="hello")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "30"


@pytest.mark.parametrize(
    "error",
    ["not_in_channel", "channel_not_found", "invalid_auth", "token_revoked", "account_inactive"],
)
async def test_scripted_error_raises_slack_api_error_once(
    fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.fail_next("chat.postMessage", error)
    client = _client(fake_slack)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0NEWS00001", text="hello")
    after = await client.chat_postMessage(channel="C0NEWS00001", text="hello")

    assert raised.value.response["error"] == error
    assert after["ok"] is True


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"channel": "C0NEWS00001", "blocks": [_section("x")] * 51}, "invalid_blocks"),
        ({"channel": "C0NEWS00001", "blocks": [_section("x" * 3001)]}, "invalid_blocks"),
        (
            {
                "channel": "C0NEWS00001",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            },
            "invalid_blocks",
        ),
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": "C0NEWS00001"}, "no_text"),
    ],
    ids=["51-blocks", "section-3001", "header-151", "no-channel", "no-text"],
)
async def test_post_message_over_slack_limits_is_refused(
    fake_slack: FakeSlack, params: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await _client(fake_slack).api_call("chat.postMessage", json=params)

    assert raised.value.response["error"] == error
    assert fake_slack.posted() == []


async def test_exactly_at_the_limits_is_accepted(fake_slack: FakeSlack) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}
    blocks = [header, *[_section("x" * 3000)] * 49]

    reply = await _client(fake_slack).chat_postMessage(
        channel="C0NEWS00001", text="h", blocks=blocks
    )

    assert reply["ok"] is True


async def test_tokens_are_checked_like_slack(fake_slack: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-not-the-bot-token", base_url=fake_slack.api_url)
    app_level = AsyncWebClient(token=fake_slack.app_token, base_url=fake_slack.api_url)

    with pytest.raises(SlackApiError) as invalid:
        await wrong.chat_postMessage(channel="C0NEWS00001", text="hello")
    with pytest.raises(SlackApiError) as wrong_type:
        await app_level.chat_postMessage(channel="C0NEWS00001", text="hello")
    with pytest.raises(SlackApiError) as bot_opens_socket:
        await _client(fake_slack).apps_connections_open(app_token=fake_slack.bot_token)
    opened = await _client(fake_slack).apps_connections_open(app_token=fake_slack.app_token)

    assert invalid.value.response["error"] == "invalid_auth"
    assert wrong_type.value.response["error"] == "not_allowed_token_type"
    assert bot_opens_socket.value.response["error"] == "not_allowed_token_type"
    assert opened["url"].startswith(f"ws://127.0.0.1:{fake_slack.url.rsplit(':', 1)[1]}/socket?")
    assert fake_slack.calls_to("apps.connections.open")[-1].token == fake_slack.app_token


async def test_wait_for_names_the_calls_seen_when_it_times_out(fake_slack: FakeSlack) -> None:
    await _client(fake_slack).auth_test()

    with pytest.raises(TimeoutError, match=r"no 1 chat\.postMessage.*'auth\.test'"):
        await fake_slack.wait_for("chat.postMessage", timeout=0.05)


def test_sync_web_client_works_against_the_fake_started_from_sync_code() -> None:
    with FakeSlack() as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        client.chat_postMessage(channel="C0NEWS00001", text="from sync code")
        assert [m["text"] for m in fake.posted("C0NEWS00001")] == ["from sync code"]


async def test_fake_started_with_async_with() -> None:
    async with FakeSlack() as fake:
        reply = await _client(fake).auth_test()
    assert reply["team_id"] == fake.team_id


# -- Socket Mode --


@pytest.fixture
async def socket_client(fake_slack: FakeSlack) -> AsyncIterator[SocketModeClient]:
    client = SocketModeClient(
        app_token=fake_slack.app_token, web_client=AsyncWebClient(base_url=fake_slack.api_url)
    )
    yield client
    await client.close()


async def test_socket_mode_client_receives_slash_command_and_its_ack_is_recorded(
    fake_slack: FakeSlack, socket_client: SocketModeClient
) -> None:
    received: list[SocketModeRequest] = []

    async def listener(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        ack = SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "On it"})
        await client.send_socket_mode_response(ack)

    socket_client.socket_mode_request_listeners.append(listener)
    await socket_client.connect()

    envelope_id = await fake_slack.send_slash_command("port strike")
    ack = await fake_slack.wait_for_ack(envelope_id)

    [request] = received
    assert request.type == "slash_commands"
    assert request.accepts_response_payload is True
    assert request.payload["command"] == "/brief"
    assert request.payload["text"] == "port strike"
    assert request.payload["response_url"].startswith(f"{fake_slack.url}/response/")
    assert ack.payload == {"text": "On it"}
    assert ack.after is not None
    assert ack.at >= fake_slack.envelopes[-1].sent_at
    assert [json.loads(frame) for frame in fake_slack.socket_messages] == [
        {"envelope_id": envelope_id, "payload": {"text": "On it"}}
    ]


async def test_events_arrive_in_documented_shapes_and_a_retry_keeps_the_event_id(
    fake_slack: FakeSlack, socket_client: SocketModeClient
) -> None:
    received: list[SocketModeRequest] = []

    async def listener(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    socket_client.socket_mode_request_listeners.append(listener)
    await socket_client.connect()

    mention = await fake_slack.send_app_mention("brief port strike")
    mention_ts = fake_slack.envelopes[-1].body["payload"]["event"]["ts"]
    in_thread = await fake_slack.send_message("and the ferries?", thread_ts=mention_ts)
    from_bot = await fake_slack.send_bot_message("a bot says hi")
    retried = await fake_slack.redeliver(mention)
    for envelope_id in (mention, in_thread, from_bot, retried):
        await fake_slack.wait_for_ack(envelope_id)

    by_id = {r.envelope_id: r for r in received}
    first, again = by_id[mention], by_id[retried]
    assert first.type == "events_api"
    assert first.payload["type"] == "event_callback"
    assert first.payload["event"]["type"] == "app_mention"
    assert first.payload["event"]["text"] == f"<@{fake_slack.bot_user_id}> brief port strike"
    assert first.payload["authorizations"][0]["user_id"] == fake_slack.bot_user_id
    assert first.retry_attempt == 0
    assert (again.retry_attempt, again.retry_reason) == (1, "timeout")
    assert again.payload["event_id"] == first.payload["event_id"]
    assert by_id[in_thread].payload["event"]["thread_ts"] == mention_ts
    assert by_id[in_thread].payload["event"]["parent_user_id"] == fake_slack.default_user
    bot_event = by_id[from_bot].payload["event"]
    assert (bot_event["subtype"], bot_event["bot_id"]) == ("bot_message", fake_slack.bot_id)
    assert [m["text"] for m in fake_slack.history(fake_slack.default_channel)] == [
        f"<@{fake_slack.bot_user_id}> brief port strike",
        "and the ferries?",
    ]  # users' messages are kept for conversations.replies


async def test_disconnect_makes_the_client_reconnect_on_a_new_url(
    fake_slack: FakeSlack, socket_client: SocketModeClient
) -> None:
    received: list[str] = []

    async def listener(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request.envelope_id)
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    socket_client.socket_mode_request_listeners.append(listener)
    await socket_client.connect()
    await fake_slack.wait_for_connection(1)

    await fake_slack.send_disconnect()
    await fake_slack.wait_for_connection(2)
    await fake_slack.wait_for("apps.connections.open", count=2)
    envelope_id = await fake_slack.send_slash_command("after reconnect")
    await fake_slack.wait_for_ack(envelope_id)

    assert fake_slack.envelopes[-1].connection == 2
    assert received == [envelope_id]


# -- slack_bolt --


async def test_bolt_app_handles_brief_with_ack_say_and_respond(fake_slack: FakeSlack) -> None:
    app = AsyncApp(client=_client(fake_slack))

    @app.command("/brief")
    async def brief(
        ack: AsyncAck, say: AsyncSay, respond: AsyncRespond, command: dict[str, Any]
    ) -> None:
        await ack("Briefing you on " + command["text"])
        await say(text="Port strike", blocks=[_section("• Dockworkers extend the strike")])
        await respond(text="Posted.", response_type="ephemeral")

    handler = AsyncSocketModeHandler(app, fake_slack.app_token)
    await handler.connect_async()
    try:
        envelope_id = await fake_slack.send_slash_command("port strike")
        ack = await fake_slack.wait_for_ack(envelope_id)
        [post] = await fake_slack.wait_for("chat.postMessage")
        [response] = await fake_slack.wait_for_response()
    finally:
        await handler.close_async()

    assert ack.payload == {"text": "Briefing you on port strike"}
    assert ack.after is not None
    assert post.token == fake_slack.bot_token
    assert post.params["channel"] == fake_slack.default_channel
    assert post.params["blocks"] == [_section("• Dockworkers extend the strike")]
    assert response.body == {"text": "Posted.", "response_type": "ephemeral"}


async def test_bolt_app_replies_to_a_mention_in_its_thread(fake_slack: FakeSlack) -> None:
    app = AsyncApp(client=_client(fake_slack))

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text="Here is the briefing", thread_ts=event["ts"])

    handler = AsyncSocketModeHandler(app, fake_slack.app_token)
    await handler.connect_async()
    try:
        envelope_id = await fake_slack.send_app_mention("brief port strike")
        await fake_slack.wait_for_ack(envelope_id)
        await fake_slack.wait_for("chat.postMessage")
    finally:
        await handler.close_async()

    mention_ts = fake_slack.envelopes[-1].body["payload"]["event"]["ts"]
    [reply] = fake_slack.posted(fake_slack.default_channel, thread_ts=mention_ts)
    assert reply["text"] == "Here is the briefing"
    assert reply["parent_user_id"] == fake_slack.default_user
    [parent] = [m for m in fake_slack.history(fake_slack.default_channel) if m["ts"] == mention_ts]
    assert parent["reply_count"] == 1


# -- paging, pacing and crash hooks --


async def test_history_and_replies_page_with_limit_and_cursor_newest_first(
    fake_slack: FakeSlack,
) -> None:
    client = _client(fake_slack)
    sent = [
        (await client.chat_postMessage(channel="C0NEWS00001", text=f"m{n}"))["ts"] for n in range(5)
    ]
    replies = [
        (await client.chat_postMessage(channel="C0NEWS00001", text=f"r{n}", thread_ts=sent[0]))[
            "ts"
        ]
        for n in range(3)
    ]

    seen, cursor, pages = [], None, 0
    while True:
        page = await client.conversations_history(channel="C0NEWS00001", limit=2, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    thread_seen, cursor = [], None
    while True:
        page = await client.conversations_replies(
            channel="C0NEWS00001", ts=sent[0], limit=2, cursor=cursor
        )
        thread_seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break

    assert seen == list(reversed(sent))  # newest first, each once, replies left out
    assert pages == 3
    assert thread_seen == [sent[0], *replies]  # the parent once, then the replies in order
    with pytest.raises(SlackApiError) as raised:
        await client.conversations_history(channel="C0NEWS00001", cursor="not-ours")
    assert raised.value.response["error"] == "invalid_cursor"


async def test_history_honours_oldest_and_shows_metadata_only_when_asked(
    fake_slack: FakeSlack,
) -> None:
    client = _client(fake_slack)
    metadata = {"event_type": "briefbot_delivery", "event_payload": {"key": "digest:x"}}
    first = await client.chat_postMessage(channel="C0NEWS00001", text="a", metadata=metadata)
    second = await client.chat_postMessage(channel="C0NEWS00001", text="b", metadata=metadata)

    newer = await client.conversations_history(
        channel="C0NEWS00001", oldest=first["ts"], include_all_metadata=True
    )
    plain = await client.conversations_history(channel="C0NEWS00001", oldest=first["ts"])

    assert [m["ts"] for m in newer["messages"]] == [second["ts"]]  # oldest is exclusive
    assert newer["messages"][0]["metadata"] == metadata
    assert "metadata" not in plain["messages"][0]


async def test_pacing_refuses_a_second_post_to_a_channel_within_a_second() -> None:
    async with FakeSlack(pace_per_channel=1.0) as fake:
        client = _client(fake)
        await client.chat_postMessage(channel="C0NEWS00001", text="first")
        await client.chat_postMessage(channel="C0OTHER0001", text="another channel")
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C0NEWS00001", text="too soon")

        assert raised.value.response.status_code == 429
        assert raised.value.response.headers["Retry-After"] == "1"
        assert raised.value.response["error"] == "ratelimited"
        assert (fake.accepted_posts, fake.paced_posts) == (2, 1)

        retrying = _client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(2)])
        await retrying.chat_postMessage(channel="C0NEWS00001", text="waited")
        assert [m["text"] for m in fake.posted("C0NEWS00001")] == ["first", "waited"]


async def test_a_post_held_after_store_is_stored_but_unanswered_until_released(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.hold_posts("after_store")
    posting = asyncio.ensure_future(
        _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="held")
    )

    [held] = await fake_slack.wait_for_held(1)

    assert held["text"] == "held"
    assert [m["text"] for m in fake_slack.posted()] == ["held"]
    assert not posting.done()
    fake_slack.release()
    reply = await posting
    assert reply["ts"] == fake_slack.posted()[0]["ts"]
    assert fake_slack.held == []


async def test_a_post_held_before_store_stores_nothing_until_released(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.hold_posts("before_store")
    posting = asyncio.ensure_future(
        _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="held")
    )

    await fake_slack.wait_for_held(1)

    assert fake_slack.posted() == []
    fake_slack.release()
    await posting
    assert len(fake_slack.posted()) == 1


async def test_hooks_see_the_post_at_each_stage_and_after_response_comes_after_the_answer(
    fake_slack: FakeSlack,
) -> None:
    stages: list[tuple[str, int]] = []
    for stage in ("before_store", "after_store", "after_response"):
        fake_slack.on_post(
            lambda params, stage=stage: stages.append((stage, len(fake_slack.posted()))),
            stage=stage,
        )
    fake_slack.hold_posts("after_response")

    reply = await _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="hooked")

    # The answer arrived although the post is still held after it.
    assert reply["ok"] is True
    await fake_slack.wait_for_held(1)
    fake_slack.release()
    assert stages == [("before_store", 0), ("after_store", 1), ("after_response", 1)]


async def test_a_dropping_hook_loses_the_post_unanswered(fake_slack: FakeSlack) -> None:
    seen: list[dict[str, Any]] = []
    hook = fake_slack.on_post(seen.append, stage="before_store", drop=True)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - aiohttp's, whichever it is
        await _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="lost")

    assert not isinstance(raised.value, SlackApiError)  # no answer at all
    # slack_sdk's default connection-error handler tried once more: lost again.
    assert [p["text"] for p in seen] == ["lost", "lost"]
    assert fake_slack.posted() == []
    fake_slack.remove_hook(hook)
    await _client(fake_slack).chat_postMessage(channel="C0NEWS00001", text="kept")
    assert [m["text"] for m in fake_slack.posted()] == ["kept"]
