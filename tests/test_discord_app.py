"""The Discord bot end to end: ``briefbot run``'s own ``serve`` against the fake Discord,
through discord.py's real client, gateway and command tree. Assertions are on what reached
the fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest

from bot.adapters.run import serve
from bot.config import load_settings
from bot.domain import Channel, DeliveryState, Platform, Subscription
from bot.store import Store
from tests.fakes.discord import FakeDiscord
from tests.test_slack_app import write_topics

EPHEMERAL_FLAG = 64


@pytest.fixture(autouse=True)
def discord_globals_restored() -> Iterator[None]:
    """The bot sets discord.py's class attributes (REST base, gateway) and must restore them."""
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    yield
    after = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert after == before


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    topics = tmp_path / "topics.toml"
    write_topics(topics)
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(topics))
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    monkeypatch.setenv("BRIEFBOT_SINCE", "3650d")
    monkeypatch.setenv("BRIEFBOT_SHUTDOWN_GRACE", "5")
    with FakeDiscord() as server:
        monkeypatch.setenv("DISCORD_BOT_TOKEN", server.bot_token)
        monkeypatch.setenv("BRIEFBOT_DISCORD_API_URL", server.api_url)
        yield server


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), write=print, note=print, stop=stop))
    try:
        await fake.wait_for(
            "PUT /applications/{application_id}/guilds/{guild_id}/commands", timeout=30
        )
        await asyncio.sleep(0)  # let on_ready finish
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def embed_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts += [str(embed.get("title", "")), str(embed.get("description", ""))]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def original_edit(fake: FakeDiscord, interaction: Any, within: float = 60) -> dict[str, Any]:
    """The body that replaced the interaction's deferred ("thinking") response."""
    route = f"PATCH /webhooks/{fake.application_id}/{interaction.token}/messages/@original"
    calls = await fake.wait_for(route, timeout=within)
    return dict(calls[-1].json or {})


async def test_brief_autocompletes_defers_at_once_posts_embeds_and_starts_a_thread(
    fake: FakeDiscord,
) -> None:
    async with running(fake):
        [synced] = fake.calls_to("PUT /applications/{application_id}/guilds/{guild_id}/commands")
        names = sorted(command["name"] for command in synced.json)
        assert names == ["ask", "brief", "briefbot"]

        completing = await fake.send_autocomplete("brief", "topic", "port")
        choices = await fake.wait_for_callback(completing.id)
        assert choices.type == 8
        assert [c["value"] for c in choices.data["choices"]] == ["port-strike"]

        interaction = await fake.send_interaction("brief", {"topic": "port-strike"})
        deferred = await fake.wait_for_callback(interaction.id)
        assert deferred.type == 5  # thinking, before any other request of ours
        body = await original_edit(fake, interaction)
        shown = embed_text(body)
        assert "Halvern" in shown
        assert "](https://meridianwire.example/" in shown  # citation links
        assert body["allowed_mentions"] == {"parse": []}  # pings no one
        threads = await fake.wait_for("POST /channels/{channel_id}/messages/{message_id}/threads")
        assert threads[0].json["name"] == "port-strike briefing"

        # A question in that thread, mentioning the bot, is answered there from the story.
        thread = next(t for t in fake.guild.threads() if t.name == "port-strike briefing")
        await fake.send_message_create("who chairs the talks?", channel=thread, mention_bot=True)
        [answer] = await fake.wait_for(f"POST /channels/{thread.id}/messages", timeout=20)
        assert "Oskar Feldt" in embed_text(answer.json)


async def test_ask_autocompletes_defers_answers_with_citations_and_its_thread_continues(
    fake: FakeDiscord,
) -> None:
    async with running(fake):
        [synced] = fake.calls_to("PUT /applications/{application_id}/guilds/{guild_id}/commands")
        ask = next(command for command in synced.json if command["name"] == "ask")
        assert [option["name"] for option in ask["options"]] == ["topic", "question"]
        assert ask["options"][0]["autocomplete"] is True

        completing = await fake.send_autocomplete(
            "ask", "topic", "amm", {"question": "what happened?"}
        )
        choices = await fake.wait_for_callback(completing.id)
        assert [c["value"] for c in choices.data["choices"]] == ["ammonia-leak"]

        interaction = await fake.send_interaction(
            "ask",
            {"topic": "port-strike", "question": "How many dockworkers walked off the job?"},
        )
        deferred = await fake.wait_for_callback(interaction.id)
        assert deferred.type == 5  # thinking, before anything else
        body = await original_edit(fake, interaction)
        shown = embed_text(body)
        assert "1,400 dockworkers" in shown
        assert "](https://meridianwire.example/" in shown  # linked to the source itself
        assert body["allowed_mentions"] == {"parse": []}
        [started] = await fake.wait_for(
            "POST /channels/{channel_id}/messages/{message_id}/threads", timeout=20
        )
        assert started.json["name"] == "How many dockworkers walked off the job?"

        # The answer was recorded: a question in its thread continues from the same story.
        thread = next(t for t in fake.guild.threads() if t.name == started.json["name"])
        await fake.send_message_create("who chairs the talks?", channel=thread, mention_bot=True)
        [answer] = await fake.wait_for(f"POST /channels/{thread.id}/messages", timeout=20)
        assert "Oskar Feldt" in embed_text(answer.json)


async def test_ask_outside_its_sources_is_refused_and_pings_no_one(fake: FakeDiscord) -> None:
    async with running(fake):
        interaction = await fake.send_interaction(
            "ask", {"topic": "port-strike", "question": "What is the capital of Peru? @everyone"}
        )
        await fake.wait_for_callback(interaction.id)
        body = await original_edit(fake, interaction)
        assert body["content"].startswith("This story's sources don't say")
        assert "@everyone" not in body["content"]
        assert body["allowed_mentions"] == {"parse": []}


async def test_management_commands_need_manage_server(fake: FakeDiscord) -> None:
    async with running(fake):
        refused = await fake.send_interaction(
            "briefbot",
            {"topic": "port-strike", "schedule": "weekdays 07:30", "timezone": "Europe/Berlin"},
            subcommand="subscribe",
            user=fake.user,
        )
        await fake.wait_for_callback(refused.id)
        [followup] = await fake.wait_for_followup(refused.id, timeout=20)
        assert followup["flags"] & EPHEMERAL_FLAG
        assert "Only people who may manage this channel" in embed_text(followup)

        allowed = await fake.send_interaction(
            "briefbot",
            {"topic": "port-strike", "schedule": "weekdays 07:30", "timezone": "Europe/Berlin"},
            subcommand="subscribe",
            user=fake.moderator_user,
        )
        await fake.wait_for_callback(allowed.id)
        body = await original_edit(fake, allowed, within=20)
        assert "Subscribed this channel to port-strike: weekdays 07:30 (Europe/Berlin)" in (
            embed_text(body)
        )

        listing = await fake.send_interaction("briefbot", subcommand="list", user=fake.user)
        await fake.wait_for_callback(listing.id)
        body = await original_edit(fake, listing, within=20)
        assert "port-strike: weekdays 07:30 (Europe/Berlin), next" in embed_text(body)


async def test_a_bot_authored_message_gets_no_reply(fake: FakeDiscord) -> None:
    other = fake.add_user("otherbot", bot=True)
    async with running(fake):
        await fake.send_message_create("help", author=other, mention_bot=True)
        await fake.send_message_create("help", author=fake.user, mention_bot=True)
        replies = await fake.wait_for(f"POST /channels/{fake.channel.id}/messages", timeout=20)
        await asyncio.sleep(0.3)
    assert len(fake.calls_to(f"POST /channels/{fake.channel.id}/messages")) == len(replies) == 1


async def test_an_expired_interaction_gets_its_briefing_in_the_channel(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(fake):
        interaction = await fake.send_interaction("brief", {"topic": "port-strike"})
        await fake.wait_for_callback(interaction.id)
        fake.expire(interaction.id)
        [posted] = await fake.wait_for(f"POST /channels/{fake.channel.id}/messages", timeout=60)
        assert "Halvern" in embed_text(posted.json)
        await fake.wait_for("POST /channels/{channel_id}/messages/{message_id}/threads")
    assert "the interaction expired" in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "logged"),
    [
        (403, 50013, "missing permissions in discord:general (50013)"),
        (403, 50001, "missing permissions in discord:general (50001)"),
        (404, 10003, "discord:general no longer exists"),
    ],
)
async def test_a_refused_post_is_logged_and_the_bot_carries_on(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture, status: int, code: int, logged: str
) -> None:
    caplog.set_level(logging.WARNING)
    route = f"POST /channels/{fake.channel.id}/messages"
    async with running(fake):
        if status == 403:
            fake.forbid_next(route, code=code)
        else:
            fake.not_found_next(route, code=code)
        await fake.send_message_create("help", author=fake.user, mention_bot=True)
        await fake.wait_for(route, timeout=20)
        await fake.send_message_create("help", author=fake.user, mention_bot=True)
        calls = await fake.wait_for(route, count=2, timeout=20)
        assert [call.status for call in calls] == [status, 200]
    assert logged in caplog.text


async def test_a_rate_limit_is_waited_out_and_a_gateway_reconnect_resumes(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running(fake):
        fake.rate_limit_next(f"POST /channels/{fake.channel.id}/messages", retry_after=0.5)
        await fake.send_message_create("help", author=fake.user, mention_bot=True)
        calls = await fake.wait_for(
            f"POST /channels/{fake.channel.id}/messages", count=2, timeout=20
        )
        assert [call.status for call in calls] == [429, 200]
        assert calls[1].at - calls[0].at >= 0.4

        await fake.send_reconnect()
        await fake.wait_for_resume(timeout=20)
        await fake.send_message_create("list", author=fake.user, mention_bot=True)
        await fake.wait_for(f"POST /channels/{fake.channel.id}/messages", count=3, timeout=20)
    assert "rate limited" in caplog.text.lower()  # discord.py says when it waits
    assert "gateway session resumed" in caplog.text
    assert fake.bot_token not in caplog.text


async def test_a_due_digest_is_posted_to_its_discord_channel_with_a_thread_and_a_nonce(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """The scheduler inside ``briefbot run`` delivers through the Discord outbox: a slot
    missed during a restart goes out once, late, carrying the nonce and the reference that
    find it again, with the rest of the digest in a thread on it."""
    settings = load_settings()
    slot = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    channel = Channel(Platform.DISCORD, str(fake.channel.id), "general", str(fake.guild.id))
    with Store.open(settings.resolved_database_url) as store:
        sub = store.subscriptions.upsert(
            Subscription(
                channel, "port-strike", f"daily {slot:%H:%M}", "UTC", "U1", slot - timedelta(days=1)
            )
        )
    assert sub.id is not None
    async with running(fake):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Store.open(settings.resolved_database_url) as store:
                done = [
                    d
                    for d in store.deliveries.of_subscription(sub.id)
                    if d.state is DeliveryState.COMPLETED
                ]
            if done:
                break
            await asyncio.sleep(0.2)
    (delivery,) = done
    assert delivery.late
    (first, *_) = [m for m in fake.posted(fake.channel.id) if m["id"] == delivery.message_id]
    assert "Halvern" in embed_text(first)
    calls = [
        c
        for c in fake.calls_to("POST /channels/{channel_id}/messages")
        if isinstance(c.response, dict) and c.response.get("id") == delivery.message_id
    ]
    assert calls[0].json["enforce_nonce"] is True
    assert len(str(calls[0].json["nonce"])) <= 25
    assert delivery.thread_id is not None  # the digest's thread, for its follow-ups
