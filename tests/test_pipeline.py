"""The ingest pipeline against a real SQLite store: dedupe, clustering, persistence."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_pipeline
from bot.config import Topic, load_settings
from bot.demo import demo_sources, demo_topics
from bot.domain import Article
from bot.errors import ConfigError
from bot.pipeline import Pipeline, shift_articles
from tests.fakes.http import FakeHTTPServer, Reply

NOW = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, BRIEFBOT_DISCOVERY="none")
    return build_pipeline(
        settings, database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}", clock=lambda: NOW
    )


def demo_articles(pipeline: Pipeline) -> list[Article]:
    gathered = asyncio.run(pipeline.gather(demo_sources()))
    assert gathered.errors == []
    return gathered.articles


def test_ingest_stores_articles_marks_copies_and_groups_stories(pipeline: Pipeline) -> None:
    report = pipeline.ingest_articles(demo_articles(pipeline))
    assert report.errors == []
    assert len(report.new_articles) == 17
    # The wire story is republished verbatim, near-verbatim and rewritten.
    assert report.copies == 3
    copies = [a for a in report.new_articles if a.copy_of is not None]
    originals = {a.id: a for a in report.new_articles}
    assert {originals[a.copy_of].outlet for a in copies if a.copy_of} == {"Meridian Wire"}
    stories = pipeline.repo.stories_updated_since(NOW - timedelta(days=30))
    assert 3 <= len(stories) < 17


def test_ingesting_the_same_articles_again_adds_nothing(pipeline: Pipeline) -> None:
    articles = demo_articles(pipeline)
    first = pipeline.ingest_articles(articles)
    stories_before = {s.id for s in pipeline.repo.list_stories()}
    again = pipeline.ingest_articles(articles)
    assert again.new_articles == []
    assert len(again.updated_articles) == len(first.new_articles)
    assert {s.id for s in pipeline.repo.list_stories()} == stories_before


def test_a_fresh_pipeline_on_the_same_store_keeps_story_ids(tmp_path: Path) -> None:
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False)
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    articles = asyncio.run(build_pipeline(settings, database_url=url).gather(demo_sources()))
    day_one = [a for a in articles.articles if a.published_at and a.published_at.day == 9]
    later = [a for a in articles.articles if a.published_at and a.published_at.day > 9]
    first = build_pipeline(settings, database_url=url, clock=lambda: NOW)
    first.ingest_articles(day_one)
    founded = {s.id for s in first.repo.list_stories()}
    second = build_pipeline(settings, database_url=url, clock=lambda: NOW)  # a restart
    report = second.ingest_articles(later)
    # Follow-ups join stories founded before the restart instead of all starting new ones.
    assert report.touched_stories & founded


def test_a_row_that_cannot_be_stored_is_an_error_and_the_rest_is_kept(
    pipeline: Pipeline, tmp_path: Path
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
    report = pipeline.ingest_articles([good, refused])
    assert [e.source for e in report.errors] == ["https://ledger.example/b"]
    assert pipeline.repo.find_by_url("https://ledger.example/a") is not None


def test_brief_selects_only_stories_about_the_topic(pipeline: Pipeline) -> None:
    pipeline.ingest_articles(shift_articles(demo_articles(pipeline), NOW - timedelta(hours=1)))
    topics = {t.name: t for t in demo_topics()}
    briefing = pipeline.brief(topics["ammonia-leak"], since=timedelta(days=7))
    assert briefing.stories
    for story in briefing.stories:
        assert any("tarrowby" in s.url or "ammonia" in s.title.lower() for s in story.sources)
    assert all(len(s.key_points) >= 1 for s in briefing.stories)


def test_a_topic_without_searchable_words_is_a_configuration_error(pipeline: Pipeline) -> None:
    with pytest.raises(ConfigError, match="searchable words"):
        pipeline.select_stories(Topic("or", query="OR"), timedelta(days=1))


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


def test_times_without_a_zone_are_taken_as_utc(pipeline: Pipeline) -> None:
    naive = Article(
        url="https://ledger.example/naive",
        title="Council approves harbour budget",
        text="The council approved the harbour budget on Wednesday evening.",
        outlet="The Coastal Ledger",
        published_at=datetime(2026, 3, 11, 12, 0),
    )
    report = pipeline.ingest_articles([naive])
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


def test_feed_validators_are_kept_back_when_storing_fails(
    pipeline: Pipeline, tmp_path: Path, http_server: FakeHTTPServer
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
    gathered = asyncio.run(pipeline.gather([http_server.url("/feed.xml")]))
    report = pipeline.ingest_articles(gathered.articles)
    assert report.errors
    # The next run must fetch the feed in full, not get a 304 and lose the item.
    assert pipeline.repo.feed_state().get(http_server.url("/feed.xml")) is None
    with sqlite3.connect(tmp_path / "p.sqlite3") as db:
        db.execute("DROP TRIGGER refuse")
    gathered = asyncio.run(pipeline.gather([http_server.url("/feed.xml")]))
    assert "If-None-Match" not in http_server.requests[-1].headers
    report = pipeline.ingest_articles(gathered.articles)
    assert report.errors == []
    assert len(report.new_articles) == 1
    assert pipeline.repo.feed_state().get(http_server.url("/feed.xml")) == ('"v1"', None)
