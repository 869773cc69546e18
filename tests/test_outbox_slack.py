"""The Slack outbox against the fake Slack, through the real slack_sdk client briefbot makes
(``make_web_client``: its retry handlers included). Assertions are on what reached the fake."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.app import SlackBot, make_web_client
from bot.adapters.slack.blocks import render_briefing
from bot.adapters.slack.outbox import EVENT_TYPE, SlackOutbox
from bot.chat.commands import ChatCore
from bot.config import Settings
from bot.domain import (
    Channel,
    Platform,
)
from bot.scheduler.ports import DeliveryError, Posted
from tests.fakes.chat import chat_service
from tests.fakes.digests import KEY, digest
from tests.fakes.slack import FakeSlack

CHANNEL = Channel(Platform.SLACK, "C0DIGEST001", "newsroom", "T0FAKETEAM1")
# The fake's first message ts is 1741600000.000100: look from a minute before it.
BEFORE_ALL = datetime.fromtimestamp(1741600000 - 60, UTC)


def client_for(fake: FakeSlack) -> AsyncWebClient:
    settings = Settings(slack_bot_token=fake.bot_token, slack_api_url=fake.api_url)
    return make_web_client(settings)


@pytest.fixture
def outbox(fake_slack: FakeSlack) -> SlackOutbox:
    return SlackOutbox(client_for(fake_slack), fake_slack.bot_user_id)


# ---------------------------------------------------------------------- posting and finding


async def test_a_digest_carries_its_key_in_metadata_and_is_found_by_it(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    posted = await outbox.post(CHANNEL, digest(), KEY)

    [message] = fake_slack.posted(CHANNEL.external_id)
    assert message["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}
    assert message["blocks"] == render_briefing(digest())[0].blocks
    assert posted == Posted(message["ts"], message["ts"])
    assert await outbox.find(CHANNEL, KEY, BEFORE_ALL) == posted


async def test_find_is_none_for_another_key_another_channel_and_before_since(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    posted = await outbox.post(CHANNEL, digest(), KEY)
    after = datetime.fromtimestamp(float(posted.message_id) + 1, UTC)
    elsewhere = Channel(Platform.SLACK, "C0OTHER0001", "other")

    assert await outbox.find(CHANNEL, "digest:2026-12-02T07:00:00+00:00", BEFORE_ALL) is None
    assert await outbox.find(elsewhere, KEY, BEFORE_ALL) is None
    assert await outbox.find(CHANNEL, KEY, after) is None
    [history] = fake_slack.calls_to("conversations.history")[-1:]
    assert history.params["oldest"] == f"{after.timestamp():.6f}"
    assert history.params["include_all_metadata"] in (True, "1", "true")


async def test_only_the_bots_own_message_with_the_key_counts(fake_slack: FakeSlack) -> None:
    mine = SlackOutbox(client_for(fake_slack), fake_slack.bot_user_id)
    someone_else = SlackOutbox(client_for(fake_slack), "U0SOMEONE01")
    await mine.post(CHANNEL, digest(), KEY)

    assert await someone_else.find(CHANNEL, KEY, BEFORE_ALL) is None
    asked = SlackOutbox(client_for(fake_slack))  # learns its user id from auth.test
    assert await asked.find(CHANNEL, KEY, BEFORE_ALL) is not None
    assert len(fake_slack.calls_to("auth.test")) == 1


async def test_find_reads_every_page_of_the_history(fake_slack: FakeSlack) -> None:
    outbox = SlackOutbox(client_for(fake_slack), fake_slack.bot_user_id, page_size=2)
    posted = await outbox.post(CHANNEL, digest(), KEY)
    for n in range(5):  # newer messages, so the delivery is on the last page
        await outbox.client.chat_postMessage(channel=CHANNEL.external_id, text=f"note {n}")

    assert await outbox.find(CHANNEL, KEY, BEFORE_ALL) == posted
    pages = fake_slack.calls_to("conversations.history")
    assert len(pages) == 3
    assert [bool(p.params.get("cursor")) for p in pages] == [False, True, True]


async def test_a_long_digest_puts_its_rest_in_the_first_messages_thread(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    long = digest(stories=12)
    rendered = render_briefing(long)
    assert len(rendered) > 1  # the precondition: Slack's 50 blocks do not hold it

    posted = await outbox.post(CHANNEL, long, KEY)

    first, *rest = fake_slack.posted(CHANNEL.external_id)
    assert first["ts"] == posted.message_id == posted.thread_id
    assert "thread_ts" not in first or first["thread_ts"] == first["ts"]
    assert [m["thread_ts"] for m in rest] == [first["ts"]] * (len(rendered) - 1)
    assert [m["blocks"] for m in [first, *rest]] == [m.blocks for m in rendered]
    assert all("metadata" not in m for m in rest)  # one delivery, one marked message
    assert await outbox.find(CHANNEL, KEY, BEFORE_ALL) == posted


async def test_a_live_update_goes_into_the_given_thread_and_is_found_there(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    thread = await outbox.post(CHANNEL, digest(), KEY)
    update_key = "update:s-000001:9f2c4e1a"

    posted = await outbox.post(
        CHANNEL, digest(kind="update"), update_key, thread_id=thread.message_id
    )

    [reply] = fake_slack.posted(CHANNEL.external_id, thread_ts=thread.message_id)
    assert posted == Posted(reply["ts"], thread.message_id)
    assert reply["metadata"]["event_payload"] == {"key": update_key}
    found = await outbox.find(CHANNEL, update_key, BEFORE_ALL, thread_id=thread.message_id)
    assert found == posted
    # A thread reply is not in the channel's history: without the thread it is not seen.
    assert await outbox.find(CHANNEL, update_key, BEFORE_ALL) is None
    assert fake_slack.calls_to("conversations.replies")[0].params["ts"] == thread.message_id


async def test_pacing_429s_are_waited_out_by_the_clients_retry_handler() -> None:
    async with FakeSlack(pace_per_channel=1.0) as fake:
        outbox = SlackOutbox(client_for(fake), fake.bot_user_id)
        long = digest(stories=12)

        posted = await outbox.post(CHANNEL, long, KEY)

        assert fake.paced_posts >= 1  # the thread's first reply came too soon
        assert fake.accepted_posts == len(render_briefing(long))
        assert len(fake.posted(CHANNEL.external_id, thread_ts=posted.message_id)) == (
            fake.accepted_posts - 1
        )


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        ("not_in_channel", "/invite @briefbot"),
        ("channel_not_found", "/invite @briefbot"),
        ("is_archived", "unarchive it"),
        ("invalid_auth", "SLACK_BOT_TOKEN"),
        ("token_revoked", "reinstall the app"),
        ("account_inactive", "reinstall the app"),
        ("msg_blocks_too_long", "bug"),
    ],
)
async def test_errors_only_a_person_can_fix_are_final_and_name_the_fix(
    fake_slack: FakeSlack, outbox: SlackOutbox, error: str, fix: str
) -> None:
    fake_slack.fail_next("chat.postMessage", error)

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(CHANNEL, digest(), KEY)

    assert raised.value.retryable is False
    assert fix in str(raised.value)
    assert fake_slack.posted() == []


async def test_a_missing_history_scope_makes_find_fail_naming_the_scope(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    fake_slack.fail_next("conversations.history", "missing_scope")

    with pytest.raises(DeliveryError) as raised:
        await outbox.find(CHANNEL, KEY, BEFORE_ALL)

    assert raised.value.retryable is False
    assert "channels:history" in str(raised.value)


async def test_rate_limits_outlasting_the_retries_are_retryable_with_retry_after(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    fake_slack.rate_limit_next("chat.postMessage", retry_after=0, times=4)  # 1 + 3 retries

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(CHANNEL, digest(), KEY)

    assert raised.value.retryable is True
    assert raised.value.retry_after == 0.0
    assert len(fake_slack.calls_to("chat.postMessage")) == 4
    assert fake_slack.posted() == []


@pytest.mark.parametrize("status", [500, 503])
async def test_slack_being_down_is_retryable(
    fake_slack: FakeSlack, outbox: SlackOutbox, status: int
) -> None:
    fake_slack.fail_next_with_status("conversations.history", status)

    with pytest.raises(DeliveryError) as raised:
        await outbox.find(CHANNEL, KEY, BEFORE_ALL)

    assert raised.value.retryable is True


async def test_no_connection_is_retryable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(slack_bot_token="xoxb-1-2-x", slack_api_url=f"http://127.0.0.1:{port}/api/")
    outbox = SlackOutbox(make_web_client(settings), "U0FAKEBOT01")

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(CHANNEL, digest(), KEY)

    assert raised.value.retryable is True
    assert "127.0.0.1" not in str(raised.value)


async def test_the_slack_bots_outbox_posts_through_a_client_that_never_resends_blind(
    fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        slack_bot_token=fake_slack.bot_token,
        slack_signing_secret="fake-signing-secret",
        slack_api_url=fake_slack.api_url,
    )
    async with chat_service(tmp_path, monkeypatch, "outbox") as service:
        bot = SlackBot(settings, ChatCore(service))
        outbox = bot.outbox()

        # Its own client, at the same API: retrying 429s (nothing was posted) but not a
        # dropped connection (the post may have been stored; the deliverer looks it up).
        assert outbox.client is not bot.app.client
        assert outbox.client.base_url == bot.app.client.base_url
        handlers = {type(handler).__name__ for handler in outbox.client.retry_handlers}
        assert handlers == {"AsyncRateLimitErrorRetryHandler"}
        try:
            posted = await outbox.post(CHANNEL, digest(), KEY)
            assert await outbox.find(CHANNEL, KEY, BEFORE_ALL) == posted
            # Every delivery on one HTTP session (a connection per post is costly).
            assert outbox.client.session is not None
            assert outbox.client.session is bot.outbox().client.session
        finally:
            await bot.stop(0)
        assert outbox.client.session.closed


async def test_once_the_first_message_is_out_a_failing_rest_still_counts_as_posted(
    fake_slack: FakeSlack, outbox: SlackOutbox
) -> None:
    def refuse_the_rest(params: dict[str, object]) -> None:
        fake_slack.fail_next("chat.postMessage", "channel_not_found", times=100)

    fake_slack.on_post(refuse_the_rest, stage="after_store")

    posted = await outbox.post(CHANNEL, digest(stories=12), KEY)

    [first] = fake_slack.posted(CHANNEL.external_id)
    assert posted == Posted(first["ts"], first["ts"])
    assert await outbox.find(CHANNEL, KEY, BEFORE_ALL) == posted
