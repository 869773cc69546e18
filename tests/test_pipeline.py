"""The ingest pipeline, driven through the service against a real SQLite store: dedupe,
clustering, persistence, concurrency and freshness across processes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_service
from bot.config import Topic, load_settings
from bot.demo import demo_sources, demo_topics
from bot.domain import Article, Briefing, Channel, Platform, terminal
from bot.errors import ConfigError
from bot.pipeline import select_stories, shift_articles
from bot.service import BriefingService
from tests.fakes.http import FakeHTTPServer, Reply

NOW = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)


def make_service(tmp_path: Path) -> BriefingService:
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, BRIEFBOT_DISCOVERY="none")
    return build_service(
        settings, database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}", clock=lambda: NOW
    )


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[BriefingService]:
    async with make_service(tmp_path) as running:
        yield running


async def demo_articles(service: BriefingService) -> list[Article]:
    gathered = await service.gather(demo_sources())
    assert gathered.errors == []
    return gathered.articles


def all_stories(service: BriefingService) -> set[str]:
    return {s.id for s in service.store.articles.stories_updated_since(NOW - timedelta(days=3650))}


async def test_ingest_stores_articles_marks_copies_and_groups_stories(
    service: BriefingService,
) -> None:
    report = await service.ingest_articles(await demo_articles(service))
    assert report.errors == []
    assert len(report.new_articles) == 17
    # The wire story is republished verbatim, near-verbatim and rewritten.
    assert report.copies == 3
    copies = [a for a in report.new_articles if a.copy_of is not None]
    originals = {a.id: a for a in report.new_articles}
    assert {originals[a.copy_of].outlet for a in copies if a.copy_of} == {"Meridian Wire"}
    stories = service.store.articles.stories_updated_since(NOW - timedelta(days=30))
    assert 3 <= len(stories) < 17


async def test_ingesting_the_same_articles_again_adds_nothing(service: BriefingService) -> None:
    articles = await demo_articles(service)
    first = await service.ingest_articles(articles)
    stories_before = all_stories(service)
    again = await service.ingest_articles(articles)
    assert again.new_articles == []
    assert len(again.updated_articles) == len(first.new_articles)
    assert all_stories(service) == stories_before


async def test_a_fresh_service_on_the_same_store_keeps_story_ids(tmp_path: Path) -> None:
    async with make_service(tmp_path) as first:
        articles = await demo_articles(first)
        day_one = [a for a in articles if a.published_at and a.published_at.day == 9]
        later = [a for a in articles if a.published_at and a.published_at.day > 9]
        await first.ingest_articles(day_one)
        founded = all_stories(first)
    async with make_service(tmp_path) as second:  # a restart
        report = await second.ingest_articles(later)
    # Follow-ups join stories founded before the restart instead of all starting new ones.
    assert report.touched_stories & founded


async def test_a_row_that_cannot_be_stored_is_an_error_and_the_rest_is_kept(
    service: BriefingService, tmp_path: Path
) -> None:
    # A real database-level failure for one row: a trigger refusing it.
    with sqlite3.connect(tmp_path / "p.sqlite3") as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.url LIKE '%/b' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    good = Article(
        url="https://ledger.example/a",
        title="Harbour cranes stand idle as Halvern strike enters second day",
        text="Cranes stood idle at the Port of Halvern on Tuesday as the strike went on.",
        outlet="The Coastal Ledger",
        published_at=NOW - timedelta(hours=3),
    )
    refused = Article(
        url="https://ledger.example/b",
        title="Ferry timetable changes for the spring season",
        text="The island ferry will run an extra evening crossing from April.",
        outlet="The Coastal Ledger",
        published_at=NOW - timedelta(hours=2),
    )
    report = await service.ingest_articles([good, refused])
    assert [e.source for e in report.errors] == ["https://ledger.example/b"]
    assert service.store.articles.find_by_url("https://ledger.example/a") is not None


async def test_brief_selects_only_stories_about_the_topic(service: BriefingService) -> None:
    await service.ingest_articles(
        shift_articles(await demo_articles(service), NOW - timedelta(hours=1))
    )
    topics = {t.name: t for t in demo_topics()}
    briefing = await service.brief(
        topics["ammonia-leak"], terminal(), since=timedelta(days=7), refresh=False
    )
    assert briefing.stories
    for story in briefing.stories:
        assert any("tarrowby" in s.url or "ammonia" in s.title.lower() for s in story.sources)
    assert all(len(s.key_points) >= 1 for s in briefing.stories)


def test_a_topic_without_searchable_words_is_a_configuration_error(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    with pytest.raises(ConfigError, match="searchable words"):
        select_stories(
            service.store.articles, Topic("or", query="OR"), timedelta(days=1), now=NOW, limit=5
        )
    service.store.close()


def test_shift_articles_moves_the_newest_to_the_given_time() -> None:
    old = datetime(2026, 3, 9, tzinfo=UTC)
    articles = [
        Article(url="u1", title="a", text="a", outlet="o", published_at=old),
        Article(url="u2", title="b", text="b", outlet="o", published_at=old + timedelta(days=1)),
        Article(url="u3", title="c", text="c", outlet="o", published_at=None),
    ]
    shifted = shift_articles(articles, NOW)
    assert shifted[1].published_at == NOW
    assert shifted[0].published_at == NOW - timedelta(days=1)
    assert shifted[2].published_at is None


async def test_times_without_a_zone_are_taken_as_utc(service: BriefingService) -> None:
    naive = Article(
        url="https://ledger.example/naive",
        title="Council approves harbour budget",
        text="The council approved the harbour budget on Wednesday evening.",
        outlet="The Coastal Ledger",
        published_at=datetime(2026, 3, 11, 12, 0),
    )
    report = await service.ingest_articles([naive])
    assert report.errors == []
    assert report.new_articles[0].published_at == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Ledger</title><link>https://ledger.example/</link>
<description>News</description>
<item><title>Ferry timetable changes for the spring season</title>
<link>https://ledger.example/b</link><pubDate>Wed, 11 Mar 2026 10:00:00 GMT</pubDate>
<description>The island ferry will run an extra evening crossing from April, the operator said on
Wednesday, after a winter in which commuters complained about the last boat leaving at six.
The new crossing leaves the harbour at nine and returns at ten, and fares stay the same. The
operator said demand had grown by a fifth since the bridge closed for repairs last autumn, and
that it would review the timetable again in June once the summer season has started. Island
councillors welcomed the change but said a late boat on Fridays and Saturdays was still
needed for people working evening shifts in the town's restaurants and the hospital. The
operator said it was talking to the council about sharing the cost of such a service.
</description></item></channel></rss>"""


async def test_feed_validators_are_kept_back_when_storing_fails(
    service: BriefingService, tmp_path: Path, http_server: FakeHTTPServer
) -> None:
    http_server.route(
        "GET",
        "/feed.xml",
        Reply(200, FEED, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}),
    )
    with sqlite3.connect(tmp_path / "p.sqlite3") as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    result = await service.ingest([http_server.url("/feed.xml")])
    assert result.report.errors
    # The next run must fetch the feed in full, not get a 304 and lose the item.
    assert service.store.feeds.get(http_server.url("/feed.xml")) is None
    with sqlite3.connect(tmp_path / "p.sqlite3") as db:
        db.execute("DROP TRIGGER refuse")
    result = await service.ingest([http_server.url("/feed.xml")])
    assert "If-None-Match" not in http_server.requests[-1].headers
    assert result.report.errors == []
    assert len(result.report.new_articles) == 1
    assert service.store.feeds.get(http_server.url("/feed.xml")) == ('"v1"', None)


# ---------------------------------------------------------------------- concurrency


def membership_invariants(service: BriefingService) -> None:
    """Every article in exactly one story, no story without articles, no URL twice."""
    with service.store.engine.connect() as db:
        articles = db.exec_driver_sql("SELECT count(*), count(DISTINCT url) FROM articles").one()
        orphans = db.exec_driver_sql(
            "SELECT count(*) FROM articles WHERE id NOT IN (SELECT article_id FROM story_articles)"
        ).scalar()
        twice = db.exec_driver_sql(
            "SELECT count(*) FROM (SELECT article_id FROM story_articles "
            "GROUP BY article_id HAVING count(*) > 1) AS t"
        ).scalar()
        empty = db.exec_driver_sql(
            "SELECT count(*) FROM stories WHERE id NOT IN (SELECT story_id FROM story_articles)"
        ).scalar()
    assert articles[0] == articles[1] > 0
    assert (orphans, twice, empty) == (0, 0, 0)


async def test_concurrent_briefs_and_ingests_on_one_service_keep_every_article_in_one_story(
    service: BriefingService,
) -> None:
    articles = shift_articles(await demo_articles(service), NOW - timedelta(hours=1))
    await service.ingest_articles(articles[:5])
    topics = {t.name: t for t in demo_topics()}
    newsroom = Channel(Platform.SLACK, "C024BE91L", "newsroom")
    harbour = Channel(Platform.DISCORD, "1180000000000000001", "harbour-watch")
    results = await asyncio.gather(
        service.ingest_articles(articles[5:9]),
        service.brief(topics["port-strike"], newsroom, since=timedelta(days=7), refresh=False),
        service.ingest_articles(articles[9:13]),
        service.brief(topics["port-strike"], harbour, since=timedelta(days=7), refresh=False),
        service.ingest_articles(articles[13:]),
        service.ingest_articles(articles[3:11]),  # overlaps: merged, never stored twice
    )
    membership_invariants(service)
    assert len(service.store.articles.get_articles(range(1, 100))) == len(articles)
    for briefing, channel in ((results[1], newsroom), (results[3], harbour)):
        assert isinstance(briefing, Briefing)
        assert briefing.stories
        for story in briefing.stories:
            saved = service.store.briefings.last(story.story_id, channel)
            assert saved is not None
            assert saved.briefing.key_points == story.key_points


async def test_two_services_on_one_database_see_each_others_articles(tmp_path: Path) -> None:
    async with make_service(tmp_path) as bot, make_service(tmp_path) as cron:
        articles = await demo_articles(bot)
        day_one = [a for a in articles if a.published_at and a.published_at.day == 9]
        later = [a for a in articles if a.published_at and a.published_at.day > 9]
        # The long-running bot has its indices seeded before the other process stores anything.
        await bot.ingest_articles([unrelated()])
        await cron.ingest_articles(day_one)
        founded = all_stories(cron)
        original = max(
            (a for a in cron.store.articles.get_articles(range(1, 100)) if a.copy_of is None),
            key=lambda a: len(a.text),
        )
        near_copy = replace(
            original,
            url="https://syndicated.example/" + original.url.rsplit("/", 1)[-1],
            original_url=None,
            outlet="Syndicated Daily",
            text=original.text + " (Additional reporting by our staff.)",
            id=None,
            copy_of=None,
            content_hash="",
        )
        report = await bot.ingest_articles([near_copy, *later])
    # The bot saw the other process's articles at its next ingest, without a restart:
    # the near copy is recognised and the follow-ups join the stories it founded.
    copy = next(a for a in report.new_articles if a.url == near_copy.url)
    assert copy.copy_of == original.id
    assert report.touched_stories & founded


async def test_concurrent_briefings_of_one_topic_share_one_gather(
    service: BriefingService, http_server: FakeHTTPServer
) -> None:
    http_server.route("GET", "/feed.xml", Reply(200, FEED, {"Content-Type": "application/rss+xml"}))
    topic = Topic("ferry", sources=[http_server.url("/feed.xml")])
    newsroom = Channel(Platform.SLACK, "C024BE91L", "newsroom")
    first, second = await asyncio.gather(
        service.brief(topic, newsroom, since=timedelta(days=3650)),
        service.brief(topic, terminal(), since=timedelta(days=3650)),
    )
    feed_requests = [r for r in http_server.requests if r.path == "/feed.xml"]
    assert len(feed_requests) == 1
    assert first.stories
    assert second.stories
    # Within BRIEFBOT_GATHER_MAX_AGE nothing is fetched again; max_age=0 always fetches.
    await service.brief(topic, newsroom, since=timedelta(days=3650))
    assert len([r for r in http_server.requests if r.path == "/feed.xml"]) == 1
    await service.brief(topic, newsroom, since=timedelta(days=3650), max_age=timedelta(0))
    assert len([r for r in http_server.requests if r.path == "/feed.xml"]) == 2


def unrelated() -> Article:
    return Article(
        url="https://ledger.example/naive",
        title="Council approves harbour budget",
        text="The council approved the harbour budget on Wednesday evening after a long debate.",
        outlet="The Coastal Ledger",
        published_at=NOW - timedelta(days=1),
    )
