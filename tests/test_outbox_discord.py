"""The Discord outbox against the fake Discord, through a real discord.py 2.7 client that
is logged in (REST only, no gateway). Assertions are on what reached the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import discord.http
import pytest

from bot.adapters.discord.client import DiscordBot
from bot.adapters.discord.embeds import render_briefing
from bot.adapters.discord.outbox import NONCE_SIZE, DiscordOutbox, marker_for, nonce_for
from bot.chat.commands import ChatCore
from bot.config import Settings
from bot.domain import (
    Briefing,
    Channel,
    Platform,
)
from bot.scheduler.ports import DeliveryError, Posted
from tests.fakes.chat import chat_service
from tests.fakes.digests import KEY
from tests.fakes.digests import digest as make_digest
from tests.fakes.discord import (
    READ_MESSAGE_HISTORY,
    FakeDiscord,
    overwrite,
    pointed_at,
)

ROUTE = "POST /channels/{channel_id}/messages"


def digest(stories: int = 1, *, kind: str = "digest") -> Briefing:
    """Points long enough that a multi-story digest needs more than one message."""
    return make_digest(stories, kind=kind, repeat=4)


def channel_of(fake: FakeDiscord, channel_id: int | None = None) -> Channel:
    return Channel(
        Platform.DISCORD, str(channel_id or fake.channel.id), "general", str(fake.guild.id)
    )


def a_minute_ago() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture
async def outbox(fake_discord: FakeDiscord) -> AsyncIterator[DiscordOutbox]:
    client = discord.Client(intents=discord.Intents.default())
    with pointed_at(fake_discord):
        await client.login(fake_discord.bot_token)
        try:
            yield DiscordOutbox(client)
        finally:
            await client.close()


# ---------------------------------------------------------------------- posting and finding


async def test_a_digest_is_sent_with_a_nonce_and_its_marker_and_found_by_it(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    channel = channel_of(fake_discord)

    posted = await outbox.post(channel, digest(), KEY)

    [call] = fake_discord.calls_to(ROUTE)
    assert call.json["nonce"] == nonce_for(KEY)
    assert len(call.json["nonce"]) == NONCE_SIZE
    assert call.json["enforce_nonce"] is True
    assert call.json["allowed_mentions"] == {"parse": []}
    [message] = fake_discord.posted(fake_discord.channel.id)
    assert message["embeds"][-1]["footer"]["text"] == marker_for(KEY)
    # A thread is started on the digest, for its rest and the story's live updates.
    assert posted == Posted(message["id"], message["id"])
    assert fake_discord.find_channel(message["id"]) is not None
    assert await outbox.find(channel, KEY, a_minute_ago()) == posted


async def test_the_nonce_is_the_same_for_the_same_key_and_a_repeat_makes_no_second_message(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    channel = channel_of(fake_discord)
    assert nonce_for(KEY) == nonce_for(KEY) != nonce_for("digest:2026-12-02T07:00:00+00:00")

    first = await outbox.post(channel, digest(), KEY)
    again = await outbox.post(channel, digest(), KEY)  # a retry after a crash, say

    assert again == first
    assert len(fake_discord.calls_to(ROUTE)) == 2
    assert len(fake_discord.messages(fake_discord.channel.id)) == 1


async def test_find_is_none_for_another_key_and_for_messages_before_since(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    channel = channel_of(fake_discord)
    await outbox.post(channel, digest(), KEY)

    assert await outbox.find(channel, "digest:2026-12-02T07:00:00+00:00", a_minute_ago()) is None
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert await outbox.find(channel, KEY, later) is None


async def test_find_pages_forward_after_the_nonce_window_and_ignores_others_messages() -> None:
    async with FakeDiscord(nonce_window=0) as fake:
        with pointed_at(fake):
            client = discord.Client(intents=discord.Intents.default())
            await client.login(fake.bot_token)
            try:
                paged = DiscordOutbox(client, page_size=2)
                channel = channel_of(fake)
                notes = [
                    await client.http.request(
                        discord.http.Route(
                            "POST", "/channels/{channel_id}/messages", channel_id=fake.channel.id
                        ),
                        json={"content": f"note {n}"},
                    )
                    for n in range(4)
                ]
                # A person quoting the marker: kept as the gateway would have delivered it.
                fake.channel.messages.append(
                    fake.message_payload(f"quoting {marker_for(KEY)}", author=fake.user)
                )
                posted = await paged.post(channel, digest(), KEY)

                assert await paged.find(channel, KEY, a_minute_ago()) == posted
                pages = fake.calls_to("GET /channels/{channel_id}/messages")
                assert len(pages) == 3  # two notes a page, oldest first; then the rest
                assert pages[1].query["after"] == notes[1]["id"]
                # Past the nonce window a repeat makes a second message: find must come first.
                await paged.post(channel, digest(), KEY)
                assert len(fake.posted(fake.channel.id)) == 4 + 2
            finally:
                await client.close()


async def test_a_long_digest_puts_its_rest_in_the_thread_started_on_it(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    long = digest(stories=12)
    rendered = render_briefing(long)
    assert len(rendered) > 1  # the precondition: one message's 6,000 characters do not hold it

    posted = await outbox.post(channel_of(fake_discord), long, KEY)

    [first] = fake_discord.messages(fake_discord.channel.id)
    rest = fake_discord.messages(posted.thread_id or "")
    assert posted == Posted(first["id"], first["id"])
    assert len(rest) == len(rendered) - 1
    assert [m["content"] for m in rest] == [m.content for m in rendered[1:]]
    assert all(marker_for(KEY) not in str(m["embeds"]) for m in rest)
    nonces = [c.json["nonce"] for c in fake_discord.calls_to(ROUTE)]
    assert len(set(nonces)) == len(rendered)  # each part its own, the same on a repeat

    await outbox.post(channel_of(fake_discord), long, KEY)
    assert len(fake_discord.messages(posted.thread_id or "")) == len(rendered) - 1


async def test_a_live_update_goes_into_the_given_thread_and_is_found_there(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    channel = channel_of(fake_discord)
    thread = await outbox.post(channel, digest(), KEY)
    assert thread.thread_id is not None
    update_key = "update:s-000001:9f2c4e1a"

    posted = await outbox.post(
        channel, digest(kind="update"), update_key, thread_id=thread.thread_id
    )

    [update] = fake_discord.messages(thread.thread_id)
    assert posted == Posted(update["id"], thread.thread_id)
    assert len(fake_discord.messages(fake_discord.channel.id)) == 1  # nothing new there
    found = await outbox.find(channel, update_key, a_minute_ago(), thread_id=thread.thread_id)
    assert found == posted
    assert await outbox.find(channel, update_key, a_minute_ago()) is None  # not in the channel


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(("code", "fix"), [(50013, "Send Messages"), (50001, "View Channel")])
async def test_missing_permissions_are_final_and_name_them(
    fake_discord: FakeDiscord, outbox: DiscordOutbox, code: int, fix: str
) -> None:
    fake_discord.forbid_next(ROUTE, code=code)

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(channel_of(fake_discord), digest(), KEY)

    assert raised.value.retryable is False
    assert fix in str(raised.value)
    assert "server admin" in str(raised.value)


async def test_a_channel_that_denies_sending_is_final(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    channel = channel_of(fake_discord, fake_discord.read_only.id)

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(channel, digest(), KEY)

    assert raised.value.retryable is False
    assert "Send Messages" in str(raised.value)


async def test_a_deleted_channel_is_final_and_says_to_unsubscribe(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    gone = channel_of(fake_discord, 123456789012345678)

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(gone, digest(), KEY)

    assert raised.value.retryable is False
    assert "unsubscribe" in str(raised.value)


async def test_find_without_read_message_history_finds_nothing(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    hidden = fake_discord.add_channel(
        fake_discord.guild,
        "no-history",
        overwrites=[overwrite(fake_discord.guild.id, deny=READ_MESSAGE_HISTORY)],
    )
    channel = channel_of(fake_discord, hidden.id)
    await outbox.post(channel, digest(), KEY)

    assert len(fake_discord.messages(hidden.id)) == 1  # sending works, the history is hidden
    assert await outbox.find(channel, KEY, a_minute_ago()) is None


async def test_rate_limits_outlasting_discord_py_s_retries_are_retryable(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    fake_discord.rate_limit_next(ROUTE, retry_after=0.01, times=5)  # discord.py tries 5 times

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(channel_of(fake_discord), digest(), KEY)

    assert raised.value.retryable is True
    assert raised.value.retry_after == 1.0  # Retry-After, in whole seconds
    assert fake_discord.posted() == []


async def test_a_rate_limit_discord_py_waits_out_posts_once(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    fake_discord.rate_limit_next(ROUTE, retry_after=0.01)

    await outbox.post(channel_of(fake_discord), digest(), KEY)

    assert len(fake_discord.messages(fake_discord.channel.id)) == 1


async def test_discord_being_down_is_retryable(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    fake_discord.fail_next(ROUTE, 503, 0, "Service Unavailable")

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(channel_of(fake_discord), digest(), KEY)

    assert raised.value.retryable is True


async def test_a_post_lost_on_the_way_is_retryable_and_a_retry_makes_one_message(
    fake_discord: FakeDiscord, outbox: DiscordOutbox
) -> None:
    hook = fake_discord.on_post(lambda params: None, stage="before_store", drop=True)

    with pytest.raises(DeliveryError) as raised:
        await outbox.post(channel_of(fake_discord), digest(), KEY)

    assert raised.value.retryable is True
    fake_discord.remove_hook(hook)
    await outbox.post(channel_of(fake_discord), digest(), KEY)
    assert len(fake_discord.messages(fake_discord.channel.id)) == 1


async def test_the_discord_bots_outbox_posts_through_its_client(
    fake_discord: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(discord_bot_token=fake_discord.bot_token)
    async with chat_service(tmp_path, monkeypatch, "outbox") as service:
        bot = DiscordBot(settings, ChatCore(service))
        with pointed_at(fake_discord):
            await bot.client.login(fake_discord.bot_token)  # what start() does before the gateway
            try:
                outbox = bot.outbox()
                assert outbox.client is bot.client
                posted = await outbox.post(channel_of(fake_discord), digest(), KEY)
                assert await outbox.find(channel_of(fake_discord), KEY, a_minute_ago()) == posted
            finally:
                await bot.client.close()
