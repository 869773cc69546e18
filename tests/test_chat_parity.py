"""One grammar on both platforms: the same commands, typed on Slack and given as Discord
options, get the same replies with the same privacy, from one ``briefbot run`` serving both
platforms at once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest

from bot.adapters.run import serve
from bot.config import load_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import FakeSlack
from tests.test_slack_app import write_topics

EPHEMERAL_FLAG = 64

# (what a Slack user types after /brief, the Discord command: name, subcommand, options)
TABLE: list[tuple[str, str, str | None, dict[str, str | bool]]] = [
    ("help", "briefbot", "help", {}),
    (
        "subscribe port-strike weekdays 07:30 Europe/Berlin",
        "briefbot",
        "subscribe",
        {"topic": "port-strike", "schedule": "weekdays 07:30", "timezone": "Europe/Berlin"},
    ),
    ("list", "briefbot", "list", {}),
    (
        "subscribe port-strike daily 09:00 live quiet",
        "briefbot",
        "subscribe",
        {"topic": "port-strike", "schedule": "daily 09:00", "live": True, "quiet": True},
    ),
    ("list", "briefbot", "list", {}),
    (
        "subscribe port-strike daily 25:00",
        "briefbot",
        "subscribe",
        {"topic": "port-strike", "schedule": "daily 25:00"},
    ),
    (
        "subscribe port-strike daily 08:00 Mars/Base",
        "briefbot",
        "subscribe",
        {"topic": "port-strike", "schedule": "daily 08:00", "timezone": "Mars/Base"},
    ),
    ("sources port-strike", "briefbot", "sources", {"topic": "port-strike"}),
    ("unsubscribe port-strike", "briefbot", "unsubscribe", {"topic": "port-strike"}),
    ("unsubscribe rail-strike", "briefbot", "unsubscribe", {"topic": "rail-strike"}),
    ("mars colony", "brief", None, {"topic": "mars colony"}),
    (
        "ask volcanoes what erupted?",
        "ask",
        None,
        {"topic": "volcanoes", "question": "what erupted?"},
    ),
    (
        "ask port-strike " + "why " * 130,
        "ask",
        None,
        {"topic": "port-strike", "question": "why " * 130},
    ),
]


def slack_plain(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return " ".join(text.split())


def discord_plain(text: str) -> str:
    text = re.sub(r"\\([\\`*_~|>#\[\]()<@:.\-+!])", r"\1", text).replace("\u200b", "")
    return " ".join(text.split())


@pytest.fixture
def both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeSlack, FakeDiscord]]:
    topics = tmp_path / "topics.toml"
    write_topics(topics)
    for key, value in {
        "BRIEFBOT_TOPICS_FILE": str(topics),
        "BRIEFBOT_DISCOVERY": "none",
        "BRIEFBOT_FETCH_FULL_TEXT": "false",
        "BRIEFBOT_SINCE": "3650d",
    }.items():
        monkeypatch.setenv(key, value)
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    with FakeSlack() as slack, FakeDiscord() as discord_fake:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("BRIEFBOT_SLACK_MANAGERS", slack.default_user)
        monkeypatch.setenv("DISCORD_BOT_TOKEN", discord_fake.bot_token)
        monkeypatch.setenv("BRIEFBOT_DISCORD_API_URL", discord_fake.api_url)
        yield slack, discord_fake
    assert saved == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


async def slack_reply(slack: FakeSlack, text: str, number: int) -> tuple[str, bool]:
    await slack.wait_for_ack(await slack.send_slash_command(text))
    body = (await slack.wait_for_response(number, timeout=20))[number - 1].body
    return slack_plain(body["text"]), body["response_type"] == "ephemeral"


async def discord_reply(
    fake: FakeDiscord, name: str, subcommand: str | None, options: dict[str, str | bool]
) -> tuple[str, bool]:
    interaction = await fake.send_interaction(
        name, options, subcommand=subcommand, user=fake.moderator_user
    )
    await fake.wait_for_callback(interaction.id)
    original = f"PATCH /webhooks/{fake.application_id}/{interaction.token}/messages/@original"

    def answered() -> dict[str, Any] | None:
        edits = fake.calls_to(original)
        if edits:
            return dict(edits[-1].json or {})
        found = fake.interactions[str(interaction.id)].followups
        return dict(found[-1]) if found else None

    for _ in range(400):
        body = answered()
        if body is not None:
            break
        await asyncio.sleep(0.05)
    assert body is not None, f"no reply to /{name} {subcommand or ''}"
    text = "\n".join(
        [str(body.get("content") or "")]
        + [str(e.get("description", "")) for e in body.get("embeds") or []]
    )
    return discord_plain(text), bool(int(body.get("flags") or 0) & EPHEMERAL_FLAG)


async def test_every_command_gets_the_same_reply_on_slack_and_discord(
    both: tuple[FakeSlack, FakeDiscord],
) -> None:
    slack, discord_fake = both
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), write=print, note=print, stop=stop))
    try:
        await slack.wait_for_connection(1, timeout=30)
        await discord_fake.wait_for(
            "PUT /applications/{application_id}/guilds/{guild_id}/commands", timeout=30
        )
        for number, (typed, name, subcommand, options) in enumerate(TABLE, start=1):
            on_slack = await slack_reply(slack, typed, number)
            on_discord = await discord_reply(discord_fake, name, subcommand, options)
            assert on_slack == on_discord, typed
            assert on_slack[0], typed  # a reply, not an empty message
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def _cited_urls(text: str) -> list[str]:
    return sorted(set(re.findall(r"https://[a-z.]+\.example/[^\s|>)]+", text)))


async def test_an_answered_ask_cites_the_same_sources_on_slack_and_discord(
    both: tuple[FakeSlack, FakeDiscord],
) -> None:
    slack, discord_fake = both
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), write=print, note=print, stop=stop))
    question = "how many dockworkers walked off the job?"
    try:
        await slack.wait_for_connection(1, timeout=30)
        await discord_fake.wait_for(
            "PUT /applications/{application_id}/guilds/{guild_id}/commands", timeout=30
        )
        await slack.wait_for_ack(await slack.send_slash_command(f"ask port-strike {question}"))
        [posted] = await slack.wait_for("chat.postMessage", timeout=60)
        on_slack = slack_plain(
            "\n".join(block["text"]["text"] for block in posted.params["blocks"])
        )
        on_discord, private = await discord_reply(
            discord_fake, "ask", None, {"topic": "port-strike", "question": question}
        )
        assert not private
        assert "1,400 dockworkers" in on_slack
        assert "1,400 dockworkers" in on_discord
        assert _cited_urls(on_slack) == _cited_urls(on_discord) != []
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
