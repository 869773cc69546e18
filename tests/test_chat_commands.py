"""The chat core end to end: a real BriefingService on a temporary SQLite store, the bundled
demo news, feeds on a local HTTP server, and real faults for the error boundary."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chat.commands import (
    HELP,
    ChatCore,
    ChatReply,
    ChatRequest,
    ReplyKind,
    split_ask,
    split_options,
    split_subscribe,
)
from bot.demo import demo_sources
from bot.domain import Channel, Platform, Topic
from bot.errors import InvalidRequest
from bot.pipeline import shift_articles
from bot.service import BriefingService
from tests.fakes.chat import NOW, chat_service
from tests.fakes.http import FakeHTTPServer
from tests.fakes.news import HTML_TYPE, Item, rss, serve_feed, serve_page

NEWSROOM = Channel(Platform.SLACK, "C0NEWS", "newsroom", "T0TEAM")


@pytest.fixture
async def service(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BriefingService]:
    monkeypatch.setenv("BRIEFBOT_SINCE", "7d")
    # The feeds here are served from 127.0.0.1; the private-address refusal has its own tests.
    monkeypatch.setenv("BRIEFBOT_ALLOW_PRIVATE_SOURCES", "true")
    async with chat_service(tmp_path, monkeypatch, "chat") as built:
        yield built


@pytest.fixture
def core(service: BriefingService) -> ChatCore:
    return ChatCore(service, default_timezone="Europe/London")


async def say(core: ChatCore, text: str, *, manager: bool = True) -> ChatReply:
    return await core.handle(ChatRequest(NEWSROOM, "U0ASKER", manager, text, thread_id=None))


def contents(path: Path) -> bytes:
    """The file's bytes (read outside the test's coroutine: the lint keeps file I/O off it)."""
    return path.read_bytes()


async def ingest_demo(service: BriefingService) -> None:
    gathered = await service.gather(demo_sources())
    assert gathered.articles
    assert not gathered.errors
    report = await service.ingest_articles(
        shift_articles(gathered.articles, NOW - timedelta(hours=1))
    )
    assert report.new_stories


# ---------------------------------------------------------------------- grammar
async def test_help_and_an_empty_message_list_the_commands(core: ChatCore) -> None:
    for text in ("help", "", "  HELP  "):
        reply = await say(core, text)
        assert reply.kind is ReplyKind.TEXT
        for command in ("brief <topic>", "subscribe <topic>", "unsubscribe", "list", "sources"):
            assert command in reply.text


async def test_an_unknown_command_suggests_the_closest(core: ChatCore) -> None:
    reply = await say(core, "subscirbe port-strike daily 08:00")
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text == (
        "I don't know the command 'subscirbe'. Did you mean subscribe? Say help for the commands."
    )
    assert "Did you mean" not in (await say(core, "xyzzy")).text


async def test_an_over_long_message_is_refused_before_anything_runs(
    service: BriefingService,
) -> None:
    core = ChatCore(service, max_text=50)
    reply = await say(core, "subscribe " + "word " * 20 + "daily 08:00")
    assert reply.kind is ReplyKind.ERROR
    assert "is 121 characters long; I read at most 50" in reply.text
    assert await service.subscriptions(NEWSROOM) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("brief", "The topic is empty; name one, e.g. brief ukraine."),
        ("brief   ", "The topic is empty; name one, e.g. brief ukraine."),
        ("unsubscribe", "The topic is empty; name one, e.g. unsubscribe ukraine."),
        ("subscribe", "The topic is empty; name one, e.g. subscribe ukraine daily 08:00"),
        ("subscribe daily 08:00", "The topic is empty"),
        ("sources", "The topic is empty; name one, e.g. sources ukraine."),
        ("sources port-strike add", "Give the feed's URL after add"),
        ('brief "port strike', "The topic's closing quote is missing"),
        ("subscribe port-strike daily 25:00", "25:00 is not a time of day; use 24-hour HH:MM"),
        ("subscribe port-strike mnday 08:00", "Did you mean mon?"),
        ("subscribe port-strike every 0h", "every 0h is too often"),
        ("subscribe port-strike 08:00", "08:00 needs the days before it, e.g. daily 08:00"),
        ("subscribe port-strike daily 08:00 Mars/Base", "'Mars/Base' is not an IANA time zone"),
        ("subscribe port-strike daily 08:00 europe/london", "Did you mean Europe/London?"),
        ("sources port-strike add file:///etc/passwd", "is not a web address"),
    ],
)
async def test_bad_input_gets_a_private_sentence_naming_the_fix(
    core: ChatCore, service: BriefingService, text: str, expected: str
) -> None:
    reply = await say(core, text)
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert expected in reply.text
    assert await service.subscriptions(NEWSROOM) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("ukraine", ("ukraine", None, None)),
        ("baltic ports weekdays 07:30", ("baltic ports", "weekdays 07:30", None)),
        (
            "baltic ports weekdays 07:30 Europe/Riga",
            ("baltic ports", "weekdays 07:30", "Europe/Riga"),
        ),
        ("baltic ports Europe/Riga", ("baltic ports", None, "Europe/Riga")),
        ("sunday trading mon-fri 09:00", ("sunday trading", "mon-fri 09:00", None)),
        ('"sunday league" weekends 10:00 UTC', ("sunday league", "weekends 10:00", "UTC")),
        ("election every 6h", ("election", "every 6h", None)),
        (
            "rail weekly mon 09:00 America/New_York",
            ("rail", "weekly mon 09:00", "America/New_York"),
        ),
    ],
)
def test_subscribe_tells_the_schedule_and_zone_from_the_topic_words(
    args: str, expected: tuple[str, str | None, str | None]
) -> None:
    assert split_subscribe(args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("ukraine", ("ukraine", False, False)),
        ("ukraine daily 08:00 Europe/Kyiv live", ("ukraine daily 08:00 Europe/Kyiv", True, False)),
        ("ukraine quiet", ("ukraine", False, True)),
        ("ukraine weekdays 07:30 QUIET Live", ("ukraine weekdays 07:30", True, True)),
        ("live", ("live", False, False)),  # the first word is always the topic's
        ("live quiet", ("live", False, True)),
        ('"going live"', ('"going live"', False, False)),
        ("live music daily 08:00", ("live music daily 08:00", False, False)),
    ],
)
def test_subscribes_last_words_may_ask_for_live_updates_and_quiet_digests(
    args: str, expected: tuple[str, bool, bool]
) -> None:
    assert split_options(args) == expected


def test_help_names_the_subscription_options() -> None:
    assert "[live] [quiet]" in HELP
    assert "live: post updates into a story's thread" in HELP


def test_a_time_among_the_topic_words_is_named_as_missing_its_days() -> None:
    with pytest.raises(InvalidRequest, match="07:30 needs the days before it"):
        split_subscribe("baltic ports 07:30")


# ---------------------------------------------------------------------- permissions
@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("subscribe port-strike daily 08:00", "subscribe this channel"),
        ("unsubscribe port-strike", "unsubscribe this channel"),
        ("sources port-strike add https://example.com/feed.xml", "change a topic's sources"),
        ("sources port-strike remove https://example.com/feed.xml", "change a topic's sources"),
    ],
)
async def test_changes_need_a_manager_and_the_refusal_is_private(
    core: ChatCore, service: BriefingService, topics_file: Path, text: str, action: str
) -> None:
    before = contents(topics_file)
    reply = await say(core, text, manager=False)
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text == (
        f"Only people who may manage this channel can {action}; ask one of them to do it."
    )
    assert await service.subscriptions(NEWSROOM) == []
    assert contents(topics_file) == before


async def test_anyone_may_read_a_topics_sources_and_the_list(core: ChatCore) -> None:
    sources = await say(core, "sources port-strike", manager=False)
    assert sources.kind is ReplyKind.TEXT
    assert sources.text == "port-strike has no feeds."
    listing = await say(core, "list", manager=False)
    assert listing.kind is ReplyKind.TEXT
    assert listing.text.startswith("This channel has no subscriptions.")


# ---------------------------------------------------------------------- subscriptions
async def test_subscribe_list_unsubscribe_round_trip(
    core: ChatCore, service: BriefingService
) -> None:
    reply = await say(core, "subscribe Port-Strike")
    assert reply.kind is ReplyKind.TEXT
    assert not reply.private
    assert reply.text == (
        "Subscribed this channel to port-strike: daily 08:00 (Europe/London). "
        "The next digest comes Mon 3 Jun 08:00 BST."
    )
    reply = await say(core, "subscribe rail-strike mon-fri 07:30 America/New_York")
    assert reply.text.endswith("The next digest comes Mon 3 Jun 07:30 EDT.")
    [first, second] = await service.subscriptions(NEWSROOM)
    assert (first.topic, first.schedule, first.timezone) == (
        "port-strike",
        "daily 08:00",
        "Europe/London",
    )
    assert (second.schedule, second.timezone, second.created_by) == (
        "weekdays 07:30",
        "America/New_York",
        "U0ASKER",
    )

    listing = await say(core, "list")
    assert listing.text.splitlines() == [
        "This channel's subscriptions:",
        "• port-strike: daily 08:00 (Europe/London), next Mon 3 Jun 08:00 BST",
        "• rail-strike: weekdays 07:30 (America/New_York), next Mon 3 Jun 07:30 EDT",
    ]

    reply = await say(core, "subscribe port-strike every 6h UTC")  # replaces the schedule
    assert "port-strike: every 6h (UTC). The next digest comes Mon 3 Jun 12:00 UTC." in reply.text
    assert len(await service.subscriptions(NEWSROOM)) == 2

    assert (await say(core, "unsubscribe PORT-STRIKE")).text == (
        "Unsubscribed this channel from port-strike."
    )
    assert [s.topic for s in await service.subscriptions(NEWSROOM)] == ["rail-strike"]
    again = await say(core, "unsubscribe port-strike")
    assert again.kind is ReplyKind.ERROR
    assert "This channel has no subscription to 'port-strike'" in again.text


async def test_subscribe_with_live_and_quiet_stores_and_lists_them(
    core: ChatCore, service: BriefingService
) -> None:
    reply = await say(core, "subscribe port-strike daily 09:00 Europe/Berlin live quiet")
    assert reply.kind is ReplyKind.TEXT
    assert reply.text == (
        "Subscribed this channel to port-strike: daily 09:00 (Europe/Berlin) · live updates · "
        "quiet when nothing new. The next digest comes Mon 3 Jun 09:00 CEST."
    )
    [stored] = await service.subscriptions(NEWSROOM)
    assert (stored.updates, stored.nothing_new) == ("live", "silent")
    listing = await say(core, "list")
    assert listing.text.splitlines()[1] == (
        "• port-strike: daily 09:00 (Europe/Berlin) · live updates · quiet when nothing new, "
        "next Mon 3 Jun 09:00 CEST"
    )
    await say(core, "subscribe port-strike weekdays 07:30 quiet")  # replaces: live is off again
    [replaced] = await service.subscriptions(NEWSROOM)
    assert (replaced.updates, replaced.nothing_new, replaced.schedule) == (
        "off",
        "silent",
        "weekdays 07:30",
    )
    await say(core, "subscribe port-strike")
    [default] = await service.subscriptions(NEWSROOM)
    assert (default.updates, default.nothing_new) == ("off", "line")


async def test_subscribing_to_an_untracked_topic_without_discovery_lists_the_tracked(
    core: ChatCore, service: BriefingService
) -> None:
    reply = await say(core, "subscribe port strike daily 08:00")
    assert reply.kind is ReplyKind.ERROR
    assert "I don't track 'port strike', and news discovery is off. Did you mean port-strike?" in (
        reply.text
    )
    assert await service.subscriptions(NEWSROOM) == []


# ---------------------------------------------------------------------- brief
async def test_brief_of_a_tracked_topic_briefs_the_demo_news(
    core: ChatCore, service: BriefingService
) -> None:
    await ingest_demo(service)
    reply = await say(core, "brief Port-Strike")
    assert reply.kind is ReplyKind.BRIEFING
    assert not reply.private
    assert reply.briefing is not None
    assert reply.briefing.topic == "port-strike"
    assert reply.briefing.stories
    assert reply.briefing.saved_ids  # saved with the channel
    assert reply.text.startswith("port-strike — ")
    assert reply.briefing.stories[0].title in reply.text


async def test_brief_of_an_untracked_topic_without_discovery_lists_the_tracked(
    core: ChatCore,
) -> None:
    reply = await say(core, "brief port strike")
    assert reply.kind is ReplyKind.TEXT
    assert reply.briefing is None
    assert reply.text.startswith(
        "I don't track 'port strike', and news discovery is off. Did you mean port-strike? "
        "Tracked topics: "
    )
    assert "ammonia-leak" in reply.text


@pytest.fixture
def no_topics(topics_file: Path) -> None:
    topics_file.unlink()


@pytest.mark.usefixtures("no_topics")
async def test_brief_with_no_topics_at_all_says_how_to_add_one(core: ChatCore) -> None:
    reply = await say(core, "brief ukraine")
    assert "no topic is tracked yet" in reply.text
    assert "sources ukraine add <feed url>" in reply.text


# ---------------------------------------------------------------------- sources
def harbour_feed() -> str:
    when = NOW - timedelta(hours=2)
    return rss(
        [
            Item(
                title="Harbour pilots vote to strike",
                link="https://harborledger.example/world/pilots-strike",
                guid="pilots-strike",
                published=when,
                description="Harbour pilots at Halvern voted to strike from Friday.",
            )
        ]
    )


async def test_sources_add_checks_the_feed_then_saves_it_in_the_database(
    core: ChatCore, service: BriefingService, http_server: FakeHTTPServer, topics_file: Path
) -> None:
    before = contents(topics_file)
    url = serve_feed(http_server, "/world/rss.xml", harbour_feed())
    reply = await say(core, f"sources Baltic Ports add <{url}>")  # Slack wraps links in <>
    assert reply.kind is ReplyKind.TEXT, reply.text
    assert reply.text == (
        f"Added {url} to baltic ports (the feed has 1 article now). baltic ports has feeds: {url}."
    )
    assert [r.path for r in http_server.requests] == ["/world/rss.xml"]
    assert contents(topics_file) == before  # chat never writes the operator's file
    topic = (await service.topics())["baltic ports"]
    assert topic.sources == [url]
    assert topic.chat_sources == [url]
    assert (await say(core, "sources baltic ports")).text == f"baltic ports has feeds: {url}."
    assert (await say(core, f"sources baltic ports add {url}")).text == (
        f"baltic ports already has the feed {url}."
    )

    removed = await say(core, f"sources baltic ports remove {url}")
    assert removed.text == f"Removed {url} from baltic ports. baltic ports has no feeds."
    again = await say(core, f"sources baltic ports remove {url}")
    assert again.kind is ReplyKind.ERROR
    assert again.text == (
        f"'baltic ports' has no feed {url}; say sources baltic ports to see its feeds."
    )
    assert "baltic ports" not in await service.topics()  # made by chat, now without feeds


async def test_sources_changed_from_chat_survive_a_restart_over_the_file(
    core: ChatCore,
    service: BriefingService,
    http_server: FakeHTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, kept, dropped = "port-strike", "./feeds/kept.xml", "./feeds/dropped.xml"
    await service.save_topic(name, sources=[dropped, kept])  # the operator's file
    url = serve_feed(http_server, "/world/rss.xml", harbour_feed())
    assert (await say(core, f"sources {name} add {url}")).kind is ReplyKind.TEXT
    assert (await say(core, f"sources {name} remove {dropped}")).kind is ReplyKind.TEXT

    async with chat_service(tmp_path, monkeypatch, "chat") as restarted:
        topic_now = (await restarted.topics())[name]
    assert dropped not in topic_now.sources
    assert topic_now.sources[-1] == url
    assert kept in topic_now.sources
    assert topic_now.chat_sources == [url]  # the file's feeds stay trusted


@pytest.mark.parametrize("path", ["/article.html", "/missing.xml"])
async def test_sources_add_refuses_what_is_not_a_feed(
    core: ChatCore, http_server: FakeHTTPServer, topics_file: Path, path: str
) -> None:
    serve_page(http_server, "/article.html", "<html><body><p>Just a page.</p></body></html>")
    assert HTML_TYPE.startswith("text/html")
    before = contents(topics_file)
    url = http_server.url(path)
    reply = await say(core, f"sources port-strike add {url}")
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text.startswith(f"{url} is not a feed I can read (")
    assert reply.text.endswith("); give the URL of an RSS or Atom feed.")
    assert contents(topics_file) == before


@pytest.fixture
async def guarded_core(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ChatCore]:
    """A chat core with the default BRIEFBOT_ALLOW_PRIVATE_SOURCES=false."""
    async with chat_service(tmp_path, monkeypatch, "guarded") as built:
        yield ChatCore(built, default_timezone="Europe/London")


async def test_sources_add_refuses_a_feed_on_a_private_address_and_names_the_setting(
    guarded_core: ChatCore, http_server: FakeHTTPServer, topics_file: Path
) -> None:
    before = contents(topics_file)
    url = serve_feed(http_server, "/world/rss.xml", harbour_feed())
    reply = await say(guarded_core, f"sources port-strike add {url}")
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text == (
        f"Not added: refused to fetch {url}: 127.0.0.1 is a loopback address; feeds added "
        "from chat must be on public addresses (set BRIEFBOT_ALLOW_PRIVATE_SOURCES=true to "
        "allow)."
    )
    assert http_server.requests == []
    assert contents(topics_file) == before
    assert (await say(guarded_core, "sources port-strike")).text.count(url) == 0


# ---------------------------------------------------------------------- the error boundary
@pytest.fixture
def nested_topics(topics_file: Path) -> None:
    # Nesting this deep makes the TOML reader itself fail (RecursionError), a fault no
    # code path expects.
    topics_file.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")


@pytest.fixture
def looped_topics(topics_file: Path) -> None:
    topics_file.unlink()
    topics_file.symlink_to(topics_file)  # a symlink loop: the file cannot be read


@pytest.mark.usefixtures("nested_topics")
async def test_an_unexpected_fault_is_logged_with_an_id_and_the_reply_apologises(
    core: ChatCore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.chat.commands"):
        reply = await say(core, "brief port-strike")
    assert reply.kind is ReplyKind.ERROR
    match = re.fullmatch(
        r"Sorry, something went wrong on my side \(error ([0-9a-f]{8})\)\. "
        r"Please try again later, or tell the operator that error id\.",
        reply.text,
    )
    assert match, reply.text
    [record] = [r for r in caplog.records if r.name == "bot.chat.commands"]
    assert match[1] in record.getMessage()
    assert "slack:newsroom" in record.getMessage()
    # The traceback is logged (folded into the message once bot.redact's filter is installed).
    assert "Traceback (most recent call last)" in caplog.text
    assert "RecursionError: maximum recursion depth exceeded" in caplog.text


@pytest.mark.usefixtures("looped_topics")
async def test_a_briefbot_error_becomes_its_message(core: ChatCore, topics_file: Path) -> None:
    reply = await say(core, "sources port-strike")
    assert reply.kind is ReplyKind.ERROR
    assert reply.text.startswith(f"Cannot read the topics file {topics_file}:")
    assert "Sorry" not in reply.text


# ---------------------------------------------------------------------- ask
def test_ask_splits_the_longest_tracked_topic_then_the_question() -> None:
    topics = {"baltic ports": Topic("baltic ports"), "baltic": Topic("baltic")}

    assert split_ask("baltic ports who is striking?", topics) == (
        "baltic ports",
        "who is striking?",
    )
    assert split_ask("baltic who is striking?", topics) == ("baltic", "who is striking?")
    assert split_ask("ukraine what did Press TV say?", topics) == (
        "ukraine",
        "what did Press TV say?",
    )
    assert split_ask('"sunday league" who won?', topics) == ("sunday league", "who won?")


@pytest.mark.parametrize("args", ["", "ukraine", '"sunday league"', '"" why?'])
def test_ask_without_a_topic_or_a_question_names_the_fix(args: str) -> None:
    with pytest.raises(InvalidRequest, match="ask "):
        split_ask(args, {})


async def test_ask_answers_from_the_topic_and_starts_a_thread(
    core: ChatCore, service: BriefingService
) -> None:
    await ingest_demo(service)

    reply = await say(core, "ask port-strike how many dockworkers walked off the job?")

    assert reply.kind is ReplyKind.ANSWER
    assert reply.starts_thread
    assert not reply.private
    assert reply.answer is not None
    assert not reply.answer.refused
    assert "1,400 dockworkers" in reply.text
    assert reply.answer.story_id is not None


async def test_ask_in_help_and_an_untracked_topic_lists_the_tracked(
    core: ChatCore, service: BriefingService
) -> None:
    assert "ask <topic> <question>" in HELP
    reply = await say(core, "ask volcanoes what erupted?")
    assert reply.kind is ReplyKind.TEXT
    assert "port-strike" in reply.text


async def test_ask_with_nothing_to_answer_from_or_too_long_a_question_is_private(
    core: ChatCore, service: BriefingService
) -> None:
    nothing = await say(core, "ask port-strike how many walked out?")  # nothing ingested
    assert nothing.kind is ReplyKind.ERROR
    assert nothing.private
    assert "brief port-strike" in nothing.text

    await ingest_demo(service)
    long = await say(core, "ask port-strike " + "why " * 200)
    assert long.kind is ReplyKind.ERROR
    assert "characters" in long.text
