"""The Slack app end to end: ``briefbot run``'s own ``serve`` against the fake Slack, through
slack-bolt's real Socket Mode path. Assertions are on what reached the fake."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest

from bot.adapters.run import serve
from bot.config import load_settings
from bot.demo import DEMO_DIR, demo_sources
from tests.fakes.slack import ApiCall, FakeSlack

ADMIN = "U0ADMIN0001"
MEMBER = "U0MEMBER001"


@dataclass
class Bot:
    fake: FakeSlack
    task: asyncio.Task[None]
    stop: asyncio.Event
    notes: list[str]


def write_topics(path: Path) -> None:
    """The demo's topics, each gathered from the bundled files (so nothing needs a network)."""
    text = (DEMO_DIR / "topics.toml").read_text(encoding="utf-8")
    sources = "[" + ", ".join(f'"{source}"' for source in demo_sources()) + "]"
    path.write_text(text.replace("sources = []", f"sources = {sources}"), encoding="utf-8")


@pytest.fixture
def slack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    topics = tmp_path / "topics.toml"
    write_topics(topics)
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(topics))
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    monkeypatch.setenv("BRIEFBOT_SINCE", "3650d")  # the demo's fixed dates
    monkeypatch.setenv("BRIEFBOT_SHUTDOWN_GRACE", "5")
    return topics


@contextlib.asynccontextmanager
async def running(fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    """``serve`` as ``briefbot run`` calls it, with the Slack settings pointing at ``fake``."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake.app_token)
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", fake.api_url)
    monkeypatch.setenv("BRIEFBOT_SLACK_MANAGERS", "U0LISTED001")
    stop = asyncio.Event()
    notes: list[str] = []
    connections = fake.connections
    task = asyncio.create_task(
        serve(load_settings(), write=notes.append, note=notes.append, stop=stop)
    )
    try:
        await fake.wait_for_connection(connections + 1, timeout=20)
        yield Bot(fake, task, stop, notes)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


@pytest.fixture
def fake(slack_env: Path) -> AsyncIterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user(ADMIN, "ada", is_admin=True)
        server.add_user(MEMBER, "max")
        server.add_user("U0LISTED001", "lin")
        yield server


def ok(call: ApiCall) -> bool:
    return call.ok


def block_texts(value: Any) -> list[str]:
    """Every ``text`` string in a Block Kit structure."""
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for v in value.values() for t in block_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in block_texts(v)]
    return []


def ephemeral_responses(fake: FakeSlack) -> list[dict[str, Any]]:
    return [r.body for r in fake.responses if r.body.get("response_type") == "ephemeral"]


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("text", "")) for m in messages)


async def brief(bot: Bot, topic: str = "port-strike") -> dict[str, Any]:
    """``/brief topic`` through Socket Mode; the first posted message of the briefing."""
    before = len(bot.fake.posted())
    envelope = await bot.fake.send_slash_command(topic, user_id=MEMBER)
    ack = await bot.fake.wait_for_ack(envelope)
    assert ack.payload == {"response_type": "ephemeral", "text": f"Briefing {topic}…"}
    await bot.fake.wait_for("chat.postMessage", count=before + 1, timeout=60, where=ok)
    return bot.fake.posted()[before]


# ---------------------------------------------------------------------- /brief
async def test_brief_acks_at_once_then_posts_block_kit_and_records_the_message(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch) as bot:
        first = await brief(bot)
        assert first["channel"] == fake.default_channel
        assert "thread_ts" not in first or first["thread_ts"] == first["ts"]
        blocks = first["blocks"]
        assert blocks[0]["type"] == "header"
        shown = "\n".join(block_texts(blocks))
        assert "Halvern" in shown
        assert "independent reports" in shown
        assert "<https://meridianwire.example/" in shown  # citation links to the sources
        assert first["text"]  # the fallback text for notifications
        [post] = fake.calls_to("chat.postMessage")
        assert post.params["unfurl_links"] in (False, "false", "0", 0)

        # The posted ts is the briefing's thread: a question there is about its stories.
        question = await fake.send_app_mention("who chairs the talks?", thread_ts=first["ts"])
        await fake.wait_for_ack(question)
        [answer] = await fake.wait_for(
            "chat.postMessage", where=lambda c: c.params.get("thread_ts") == first["ts"], timeout=20
        )
        assert "Oskar Feldt" in answer.params["text"]


async def test_an_untracked_topic_lists_the_tracked_ones(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch):
        envelope = await fake.send_slash_command("mars colony", user_id=MEMBER)
        await fake.wait_for_ack(envelope)
        [response] = await fake.wait_for_response(1)
        assert "I don't track 'mars colony'" in response.body["text"]
        assert "port-strike" in response.body["text"]
        assert not fake.calls_to("chat.postMessage")


# ---------------------------------------------------------------------- management commands
async def test_subscribe_list_unsubscribe_and_help_for_an_admin(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch):
        for number, text in enumerate(
            [
                "subscribe port-strike weekdays 07:30 Europe/Berlin",
                "list",
                "unsubscribe port-strike",
                "help",
            ],
            start=1,
        ):
            envelope = await fake.send_slash_command(text, user_id=ADMIN)
            ack = await fake.wait_for_ack(envelope)
            assert ack.payload is None  # an empty ack: the reply follows
            await fake.wait_for_response(number)
        bodies = [r.body for r in fake.responses]
        assert bodies[0]["response_type"] == "in_channel"
        assert bodies[0]["text"].startswith(
            "Subscribed this channel to port-strike: weekdays 07:30 (Europe/Berlin). "
            "The next digest comes "
        )
        assert "port-strike: weekdays 07:30 (Europe/Berlin), next" in bodies[1]["text"]
        assert bodies[2]["text"] == "Unsubscribed this channel from port-strike."
        assert "subscribe &lt;topic&gt;" in bodies[3]["text"]  # mrkdwn-escaped help
        # one users.info for the admin: their roles are cached for the next command
        assert [c.params["user"] for c in fake.calls_to("users.info")] == [ADMIN]


async def test_a_member_who_is_not_an_admin_is_refused_privately(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch):
        envelope = await fake.send_slash_command(
            "subscribe port-strike daily 08:00", user_id=MEMBER
        )
        await fake.wait_for_ack(envelope)
        [refusal] = await fake.wait_for_response(1)
        assert refusal.body["response_type"] == "ephemeral"
        assert refusal.body["text"].startswith("Only people who may manage this channel")

        listed = await fake.send_slash_command(
            "subscribe port-strike daily 08:00", user_id="U0LISTED001"
        )
        await fake.wait_for_ack(listed)
        responses = await fake.wait_for_response(2)
        assert responses[1].body["text"].startswith("Subscribed this channel to port-strike")

        reading = await fake.send_slash_command("sources port-strike", user_id=MEMBER)
        await fake.wait_for_ack(reading)
        responses = await fake.wait_for_response(3)
        assert responses[2].body["text"].startswith("port-strike has feeds:")
        # users.info was asked for the member only; the listed user and a read need no lookup
        assert [c.params["user"] for c in fake.calls_to("users.info")] == [MEMBER]


async def test_bad_input_names_the_problem(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch):
        for number, text in enumerate(
            ["subscribe port-strike daily 25:00", "subscribe port-strike daily 08:00 Mars/Base"],
            start=1,
        ):
            await fake.wait_for_ack(await fake.send_slash_command(text, user_id=ADMIN))
            await fake.wait_for_response(number)
        first, second = (r.body for r in fake.responses)
        assert first["response_type"] == second["response_type"] == "ephemeral"
        assert "25:00 is not a time of day" in first["text"]
        assert "'Mars/Base' is not an IANA time zone" in second["text"]


# ---------------------------------------------------------------------- threads and events
async def test_a_retried_event_and_a_double_delivery_are_answered_once_even_after_a_restart(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch) as bot:
        first = await brief(bot)
        mention = fake.app_mention_event(
            f"<@{fake.bot_user_id}> who chairs the talks?", thread_ts=first["ts"]
        )
        delivered = await fake.send_event(mention, event_id="Ev0MENTION01")
        # The same message also arrives as a ``message`` event (message.channels).
        as_message = dict(mention, type="message", channel_type="channel")
        await fake.send_event(as_message, event_id="Ev0MESSAGE01")
        await fake.wait_for("chat.postMessage", count=2, timeout=20)
        assert not fake.ephemerals, fake.ephemerals
        again = await fake.redeliver(delivered)
        await fake.wait_for_ack(again)

    async with running(fake, monkeypatch):  # a restart: the claim is in the database
        retried = await fake.redeliver(delivered)
        await fake.wait_for_ack(retried)
        # a fresh question proves the restarted bot answers in the thread at all
        await fake.wait_for_ack(
            await fake.send_app_mention("what did the union say?", thread_ts=first["ts"])
        )
        await fake.wait_for(
            "chat.postMessage",
            count=2,
            where=lambda c: c.params.get("thread_ts") == first["ts"],
            timeout=20,
        )
    thread = fake.posted(fake.default_channel, thread_ts=first["ts"])
    assert len(thread) == 2, (texts(thread), fake.ephemerals)


async def test_a_plain_reply_in_the_bots_thread_is_answered_and_bots_are_ignored(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch) as bot:
        first = await brief(bot)
        await fake.wait_for_ack(await fake.send_bot_message("who chairs the talks?"))
        other = fake.bot_message_event("who chairs the talks?", bot_id="B0OTHERBOT1")
        other["thread_ts"] = first["ts"]
        await fake.wait_for_ack(await fake.send_event(other))
        await fake.wait_for_ack(await fake.send_message("lunch?", thread_ts="1700000000.000100"))
        await fake.wait_for_ack(
            await fake.send_message("who chairs the talks?", thread_ts=first["ts"])
        )
        [answer] = await fake.wait_for(
            "chat.postMessage", where=lambda c: c.params.get("thread_ts") == first["ts"], timeout=20
        )
        assert "Oskar Feldt" in answer.params["text"]
    assert len(fake.calls_to("chat.postMessage")) == 2  # the briefing and one answer


# ---------------------------------------------------------------------- /brief ask
async def test_brief_ask_posts_a_cited_answer_whose_thread_continues_from_its_story(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch) as bot:
        envelope = await fake.send_slash_command(
            "ask port-strike how many dockworkers walked off the job?", user_id=MEMBER
        )
        ack = await fake.wait_for_ack(envelope)
        assert ack.payload["response_type"] == "ephemeral"
        await fake.wait_for("chat.postMessage", timeout=60, where=ok)
        [answer] = fake.posted()
        assert answer.get("thread_ts") in (None, answer["ts"])  # a new message: a thread root
        shown = "\n".join(block_texts(answer["blocks"]))
        assert "1,400 dockworkers" in shown
        assert "<https://meridianwire.example/" in shown  # cited by the source's own URL
        assert "1,400 dockworkers" in answer["text"]

        # The answer is on record: a question in its thread is about the same story.
        await fake.wait_for_ack(
            await fake.send_message("who chairs the talks?", thread_ts=answer["ts"])
        )
        [reply] = await fake.wait_for(
            "chat.postMessage",
            where=lambda c: c.params.get("thread_ts") == answer["ts"],
            timeout=20,
        )
        assert "Oskar Feldt" in reply.params["text"]
        assert bot.task is not None


async def test_brief_ask_that_the_sources_do_not_answer_is_an_honest_refusal(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch):
        envelope = await fake.send_slash_command(
            "ask port-strike what is the capital of Peru? @channel", user_id=MEMBER
        )
        await fake.wait_for_ack(envelope)
        await fake.wait_for("chat.postMessage", timeout=60, where=ok)
        [answer] = fake.posted()
        assert answer["text"].startswith("This story's sources don't say")
        shown = "\n".join(block_texts(answer["blocks"]))
        assert "@channel" not in shown  # the question's mention is not posted live
        assert "http" not in shown


# ---------------------------------------------------------------------- Slack's errors
async def test_a_rate_limited_post_is_retried_after_retry_after(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.rate_limit_next("chat.postMessage", retry_after=1)
    async with running(fake, monkeypatch) as bot:
        await brief(bot)
        calls = fake.calls_to("chat.postMessage")
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].at - calls[0].at >= 0.9  # it waited for Retry-After
    assert len(fake.posted()) == 1


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("not_in_channel", "/invite @briefbot"),
        ("channel_not_found", "/invite @briefbot"),
        ("token_revoked", "token has been revoked"),
        ("invalid_auth", "token is not valid"),
        ("account_inactive", "account is inactive"),
    ],
)
async def test_slack_errors_reach_the_user_and_the_log(
    fake: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: str,
    says: str,
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(fake, monkeypatch):
        fake.fail_next("chat.postMessage", error)
        envelope = await fake.send_slash_command("port-strike", user_id=MEMBER)
        await fake.wait_for_ack(envelope)
        [response] = await fake.wait_for_response(1, timeout=60)
        assert response.body["response_type"] == "ephemeral"
        assert says in response.body["text"]
        # the bot carries on
        await fake.wait_for_ack(await fake.send_slash_command("help", user_id=MEMBER))
        await fake.wait_for_response(2)
    assert any(error in record.getMessage() for record in caplog.records)
    assert not fake.posted()


async def test_a_revoked_token_at_start_is_a_configuration_error_without_the_token(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.errors import ConfigError

    fake.fail_next("auth.test", "token_revoked")
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake.app_token)
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", fake.api_url)
    with pytest.raises(ConfigError, match=r"token_revoked.*reinstall the app") as err:
        await serve(load_settings(), write=print, note=print)
    assert fake.bot_token not in str(err.value)
    assert fake.bot_token not in caplog.text
    assert fake.app_token not in caplog.text


async def test_no_token_reaches_a_log_line(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(fake, monkeypatch) as bot:
        await brief(bot)
        await fake.send_disconnect()  # a reconnect logs its URL and tokens, if anything does
        await fake.wait_for_connection(2, timeout=20)
    logged = caplog.text
    assert "chat.postMessage" in logged or "Slack" in logged  # it did log
    assert fake.bot_token not in logged
    assert fake.app_token not in logged


async def test_stopping_finishes_the_briefing_in_flight(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, monkeypatch) as bot:
        envelope = await fake.send_slash_command("port-strike", user_id=MEMBER)
        await fake.wait_for_ack(envelope)
        bot.stop.set()  # SIGTERM's handler does just this
        await asyncio.wait_for(bot.task, timeout=30)
    assert len(fake.posted()) == 1  # the briefing in flight was still posted


# ---------------------------------------------------------------------- HTTP mode
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signed(secret: str, body: str, timestamp: int) -> dict[str, str]:
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_http_mode_checks_signatures_and_refuses_stale_requests(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "8f742231b10e8888abcd99yyyzzz85a5"  # the shape of Slack's signing secrets
    port = free_port()
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", secret)
    monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", fake.api_url)
    monkeypatch.setenv("BRIEFBOT_SLACK_HOST", "127.0.0.1")
    monkeypatch.setenv("BRIEFBOT_SLACK_PORT", str(port))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(), write=print, note=print, stop=stop))
    url = f"http://127.0.0.1:{port}/slack/events"
    body = urlencode(
        {
            "token": "x",
            "team_id": fake.team_id,
            "channel_id": fake.default_channel,
            "channel_name": "general",
            "user_id": MEMBER,
            "command": "/brief",
            "text": "help",
            "response_url": fake.response_url("T0/1/help"),
            "trigger_id": "1.2.3",
        }
    )
    try:
        async with httpx2.AsyncClient(timeout=10) as client:
            for _ in range(200):  # until the server listens
                try:
                    await client.get(url)
                    break
                except httpx2.ConnectError:
                    await asyncio.sleep(0.05)
            now = int(time.time())
            forged = signed("not-the-secret", body, now)
            assert (await client.post(url, content=body, headers=forged)).status_code == 401
            stale = signed(secret, body, now - 6 * 60)  # beyond the 5-minute replay window
            assert (await client.post(url, content=body, headers=stale)).status_code == 401
            assert not fake.responses

            good = await client.post(url, content=body, headers=signed(secret, body, now))
            assert good.status_code == 200
            [response] = await fake.wait_for_response(1)
            assert "subscribe &lt;topic&gt;" in response.body["text"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_a_feed_added_from_slack_on_a_private_address_is_refused(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, http_server: Any
) -> None:
    from tests.fakes.news import Item, rss, serve_feed

    url = serve_feed(
        http_server, "/feed.xml", rss([Item(title="Pilots vote", link="https://x.example/a")])
    )
    async with running(fake, monkeypatch):
        envelope = await fake.send_slash_command(f"sources port-strike add <{url}>", user_id=ADMIN)
        await fake.wait_for_ack(envelope)
        [refusal] = await fake.wait_for_response(1, timeout=20)
    assert refusal.body["response_type"] == "ephemeral"
    assert "127.0.0.1" in refusal.body["text"]
    assert "BRIEFBOT_ALLOW_PRIVATE_SOURCES" in refusal.body["text"]
    assert not http_server.requests  # refused before any connection


async def test_malformed_payloads_are_logged_and_the_bot_carries_on(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(fake, monkeypatch):
        mention = fake.app_mention_event(f"<@{fake.bot_user_id}> help")
        del mention["channel"]
        await fake.wait_for_ack(await fake.send_event(mention))
        no_text = fake.message_event("x", thread_ts="1700000000.000100")
        no_text["text"] = {"not": "a string"}
        await fake.wait_for_ack(await fake.send_event(no_text))
        broken = await fake.send_envelope(
            {
                "envelope_id": "e-broken-1",
                "type": "slash_commands",
                "payload": {"command": "/brief", "text": "help", "team_id": fake.team_id},
                "accepts_response_payload": True,
            }
        )
        assert broken is not None
        ack = await fake.wait_for_ack(broken)
        assert ack.payload is not None
        assert "without its channel or user" in ack.payload["text"]
        # and the next, well-formed command is served
        await fake.wait_for_ack(await fake.send_slash_command("help", user_id=MEMBER))
        await fake.wait_for_response(1)
    logged = caplog.text
    assert "app_mention event without channel" in logged
    assert "message event without a text" in logged
    assert "slash command without channel_id or user_id" in logged
    assert not fake.posted()
    assert not fake.ephemerals
