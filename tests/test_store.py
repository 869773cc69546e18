"""The store's repositories, run case by case on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.domain import (
    Article,
    BatchPlan,
    Briefing,
    BriefingMode,
    Channel,
    Coverage,
    KeyPoint,
    Platform,
    PostedMessage,
    SavedArticle,
    SourceRef,
    Story,
    StoryBriefing,
    Subscription,
    TokenUsage,
    Verification,
    terminal,
)
from bot.errors import StoreError
from bot.store import Store, content_key
from bot.store.engine import create_store_engine, parse_url
from bot.store.models import ArticleRow, Base, ChannelRow, OutletRow, PostedMessageRow
from bot.text import text_hash
from tests.fakes.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

T0 = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)

STRIKE_TEXT = (
    "Port workers in Rotterdam walked out on Monday over pay, halting container traffic at "
    "Europe's largest port. The FNV union said the strike would last 48 hours."
)
STRIKE_TEASER = "Port workers in Rotterdam walked out on Monday over pay."


def make_article(
    url: str = "https://www.harbourpost.example/news/rotterdam-port-strike",
    *,
    outlet: str = "Harbour Post",
    body: str = STRIKE_TEXT,
    full_text: bool = True,
    published_at: datetime | None = T0,
    fetched_at: datetime = T0 + timedelta(minutes=30),
    **fields: object,
) -> Article:
    article = Article(
        url=url,
        title="Rotterdam port workers strike over pay",
        text=body,
        outlet=outlet,
        published_at=published_at,
        fetched_at=fetched_at,
        full_text=full_text,
        language="en",
        original_url=url + "?utm_source=rss",
        source="https://www.harbourpost.example/world.rss",
        content_hash=text_hash(body),
    )
    for name, value in fields.items():
        setattr(article, name, value)
    return article


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """One migrated PostgreSQL database for the session, and an engine to empty it with."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.database()
    Store.open(url).close()
    engine = create_store_engine(url)
    yield url, engine
    engine.dispose()


def empty_all_tables(engine: Engine) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("store-template") / "briefbot.sqlite3"
    Store.open(f"sqlite:///{path}").close()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "briefbot.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url, engine = request.getfixturevalue("pg_database")
    empty_all_tables(engine)
    return str(url)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as opened:
        yield opened


def stored(store: Store, article: Article) -> int:
    saved = store.articles.save_article(article)
    assert saved.id is not None
    return saved.id


def make_story(story_id: str = "s-0123456789ab", when: datetime = T0) -> Story:
    return Story(story_id, "Rotterdam port strike", created_at=when, updated_at=when)


def place(
    store: Store,
    article: Article,
    story_id: str = "s-0123456789ab",
    *,
    new_story: bool = True,
    story: Story | None = None,
) -> int:
    """Store ``article`` (or re-save a stored one) and put it in ``story_id``, the way ingest
    does: in one batch whose plan creates the story (``new_story``; ``story`` or a
    ``make_story`` at the article's time) and adds the membership. Returns the article id."""

    def plan(saved: list[SavedArticle]) -> BatchPlan:
        article_id = saved[0].article.id
        assert article_id is not None
        stories = [story or make_story(story_id, article.when)] if new_story else []
        return BatchPlan(new_stories=stories, members=[(story_id, article_id)])

    [result] = store.articles.ingest_batch([article], plan)
    assert result.id is not None
    return result.id


def saved_items(store: Store, articles: Sequence[Article]) -> list[SavedArticle]:
    """Ingest ``articles`` with an empty plan and return what the plan was handed."""
    seen: list[SavedArticle] = []

    def plan(saved: list[SavedArticle]) -> BatchPlan:
        seen.extend(saved)
        return BatchPlan()

    store.articles.ingest_batch(articles, plan)
    return seen


def article_count(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ArticleRow)).scalar_one())


# ---------------------------------------------------------------------- articles
def test_saved_article_round_trips_every_field(store: Store) -> None:
    original = stored(store, make_article("https://wire.example/a", outlet="Wire"))
    article = make_article(origins=("Reuters", "AP"), copy_of=original)

    saved = store.articles.save_article(article)

    assert saved.id is not None
    assert saved.id != original
    assert store.articles.get_articles([saved.id]) == [saved]
    assert saved == make_article(origins=("Reuters", "AP"), copy_of=original, id=saved.id)


def test_outlets_are_created_once_with_the_host_as_domain(store: Store) -> None:
    stored(store, make_article("https://www.harbourpost.example/a"))
    stored(store, make_article("https://www.harbourpost.example/b"))
    stored(store, make_article("https://dailyquay.example/c", outlet=""))

    with store.engine.connect() as connection:
        outlets = connection.execute(
            select(OutletRow.name, OutletRow.domain).order_by(OutletRow.name)
        ).all()
    assert [tuple(row) for row in outlets] == [
        ("Harbour Post", "harbourpost.example"),
        ("dailyquay.example", "dailyquay.example"),
    ]


def test_full_text_replaces_a_stored_teaser(store: Store) -> None:
    teaser_id = stored(store, make_article(body=STRIKE_TEASER, full_text=False))

    merged = store.articles.save_article(make_article(body=STRIKE_TEXT, full_text=True))

    assert merged.id == teaser_id
    assert (merged.text, merged.full_text) == (STRIKE_TEXT, True)
    assert merged.content_hash == text_hash(STRIKE_TEXT)
    assert store.articles.get_articles([teaser_id]) == [merged]


def test_teaser_never_replaces_a_stored_full_text(store: Store) -> None:
    full_id = stored(store, make_article(body=STRIKE_TEXT, full_text=True))

    merged = store.articles.save_article(make_article(body=STRIKE_TEASER, full_text=False))

    assert merged.id == full_id
    assert (merged.text, merged.full_text) == (STRIKE_TEXT, True)
    assert merged.content_hash == text_hash(STRIKE_TEXT)


def test_merge_keeps_earliest_publication_and_latest_fetch(store: Store) -> None:
    first = stored(store, make_article(published_at=T0, fetched_at=T0 + timedelta(hours=1)))

    merged = store.articles.save_article(
        make_article(published_at=T0 + timedelta(hours=3), fetched_at=T0 + timedelta(hours=4))
    )
    again = store.articles.save_article(
        make_article(published_at=None, fetched_at=T0 + timedelta(hours=5))
    )

    assert merged.id == again.id == first
    assert merged.published_at == again.published_at == T0
    assert merged.fetched_at == T0 + timedelta(hours=4)
    assert again.fetched_at == T0 + timedelta(hours=5)


def test_merge_unites_origins_and_keeps_copy_of_unless_newly_set(store: Store) -> None:
    wire = stored(store, make_article("https://wire.example/a", outlet="Wire"))
    other = stored(store, make_article("https://wire.example/b", outlet="Wire"))
    first = stored(store, make_article(origins=("Reuters",), copy_of=wire))

    kept = store.articles.save_article(make_article(origins=("AP", "Reuters")))
    moved = store.articles.save_article(make_article(copy_of=other))

    assert kept.id == moved.id == first
    assert kept.origins == ("Reuters", "AP")
    assert kept.copy_of == wire
    assert moved.copy_of == other
    assert moved.origins == ("Reuters", "AP")


def test_get_articles_keeps_requested_order_and_skips_unknown_ids(store: Store) -> None:
    a = stored(store, make_article("https://quay.example/a"))
    b = stored(store, make_article("https://quay.example/b"))

    found = store.articles.get_articles([b, 999_999, a])

    assert [article.id for article in found] == [b, a]
    assert store.articles.get_articles([]) == []


def test_find_by_url(store: Store) -> None:
    stored(store, make_article("https://quay.example/a"))
    stored(store, make_article("https://copy.example/a", outlet="Copy Desk"))

    by_url = store.articles.find_by_url("https://copy.example/a")

    assert by_url is not None
    assert by_url.outlet == "Copy Desk"
    assert store.articles.find_by_url("https://quay.example/missing") is None


def test_a_new_article_is_handed_the_earliest_stored_article_with_its_text(store: Store) -> None:
    first = stored(store, make_article("https://quay.example/a"))
    stored(store, make_article("https://copy.example/a", outlet="Copy Desk", copy_of=first))

    [copy, in_batch, other, unhashed] = saved_items(
        store,
        [
            make_article("https://relay.example/a", outlet="Relay"),
            make_article("https://relay.example/b", outlet="Relay"),
            make_article("https://relay.example/c", outlet="Relay", body="A text nobody wrote."),
            make_article("https://relay.example/d", outlet="Relay", content_hash=""),
        ],
    )
    [merged] = saved_items(store, [make_article("https://quay.example/a")])

    assert copy.new
    assert copy.twin == (first, None)  # the earliest, not the later copy of it
    assert in_batch.twin == (first, None)
    assert other.twin is None
    assert unhashed.twin is None
    assert not merged.new
    assert merged.twin is None  # only new articles look for a twin
    assert merged.article.id == first


def test_a_twin_stored_as_a_copy_names_its_original(store: Store) -> None:
    wire = stored(store, make_article("https://wire.example/a", outlet="Wire", body="Wire text."))
    copy = stored(store, make_article("https://quay.example/a", copy_of=wire))

    [later] = saved_items(store, [make_article("https://relay.example/a", outlet="Relay")])

    assert later.twin == (copy, wire)


def test_copies_in_the_plan_are_written(store: Store) -> None:
    original = stored(store, make_article("https://wire.example/a", outlet="Wire"))

    def plan(saved: list[SavedArticle]) -> BatchPlan:
        article_id = saved[0].article.id
        assert article_id is not None
        return BatchPlan(copies={article_id: original})

    [copy] = store.articles.ingest_batch([make_article()], plan)

    assert copy.copy_of == original
    assert copy.id is not None
    assert [a.copy_of for a in store.articles.get_articles([original, copy.id])] == [
        None,
        original,
    ]


def test_a_copy_of_an_unknown_article_or_of_itself_is_refused(store: Store) -> None:
    kept = stored(store, make_article("https://wire.example/a", outlet="Wire"))

    def copy_of(original: int | None) -> Callable[[list[SavedArticle]], BatchPlan]:
        def plan(saved: list[SavedArticle]) -> BatchPlan:
            article_id = saved[0].article.id
            assert article_id is not None
            return BatchPlan(copies={article_id: original or article_id})

        return plan

    with pytest.raises(StoreError, match="Could not store the article"):
        store.articles.ingest_batch([make_article()], copy_of(999_999))
    with pytest.raises(StoreError, match="copy of itself"):
        store.articles.ingest_batch([make_article()], copy_of(None))
    with pytest.raises(StoreError, match="copy of itself"):
        store.articles.ingest_batch([make_article("https://wire.example/a")], copy_of(None))

    assert store.articles.find_by_url(make_article().url) is None  # rolled back both times
    assert [a.copy_of for a in store.articles.get_articles([kept])] == [None]
    assert article_count(store) == 1


def test_a_batch_with_the_same_url_twice_stores_one_article(store: Store) -> None:
    first = make_article(published_at=T0 + timedelta(hours=2), body=STRIKE_TEASER, full_text=False)
    second = make_article(published_at=T0, fetched_at=T0 + timedelta(hours=3))

    saved = saved_items(store, [first, second])
    results = store.articles.get_articles([item.article.id or 0 for item in saved])

    assert [item.new for item in saved] == [True, False]
    assert saved[0].article.id == saved[1].article.id
    assert article_count(store) == 1
    [merged] = results[:1]
    assert (merged.text, merged.full_text, merged.published_at) == (STRIKE_TEXT, True, T0)
    assert merged.fetched_at == T0 + timedelta(hours=3)


def test_a_plan_that_fails_stores_none_of_the_batch(store: Store) -> None:
    kept = stored(store, make_article("https://quay.example/kept"))
    batch = [
        make_article("https://quay.example/kept", fetched_at=T0 + timedelta(days=1)),
        make_article("https://quay.example/new", outlet="New Quay"),
    ]

    def plan(saved: list[SavedArticle]) -> BatchPlan:
        raise RuntimeError("the story index broke")

    with pytest.raises(RuntimeError, match="the story index broke"):
        store.articles.ingest_batch(batch, plan)

    assert store.articles.find_by_url("https://quay.example/new") is None
    assert store.articles.get_articles([kept])[0].fetched_at == T0 + timedelta(minutes=30)
    with store.engine.connect() as connection:
        names = connection.execute(select(OutletRow.name)).scalars().all()
    assert names == ["Harbour Post"]  # the new outlet was rolled back too


# ---------------------------------------------------------------------- stories
def test_story_round_trips_with_articles_in_time_order(store: Store) -> None:
    later_article = make_article("https://quay.example/later", published_at=T0 + timedelta(2))
    earlier_article = make_article("https://quay.example/earlier", published_at=T0)

    def plan(saved: list[SavedArticle]) -> BatchPlan:
        return BatchPlan(
            new_stories=[make_story()],
            members=[("s-0123456789ab", item.article.id or 0) for item in saved],
        )

    later, earlier = (
        a.id or 0 for a in store.articles.ingest_batch([later_article, earlier_article], plan)
    )

    story = store.articles.get_story("s-0123456789ab")
    assert story == Story(
        "s-0123456789ab",
        "Rotterdam port strike",
        created_at=T0,
        updated_at=T0 + timedelta(days=2),
        article_ids=[earlier, later],
    )
    members = store.articles.stories_with_articles(["s-0123456789ab"])["s-0123456789ab"]
    assert [a.id for a in members] == [earlier, later]
    assert store.articles.get_story("s-ffffffffffff") is None


def test_adding_an_existing_article_to_a_story_by_re_saving_it(store: Store) -> None:
    first = place(store, make_article("https://quay.example/first", published_at=T0))
    later = stored(
        store, make_article("https://quay.example/later", published_at=T0 + timedelta(hours=1))
    )

    again = place(
        store,
        make_article("https://quay.example/later", published_at=T0 + timedelta(hours=1)),
        new_story=False,
    )

    assert again == later
    story = store.articles.get_story("s-0123456789ab")
    assert story is not None
    assert story.article_ids == [first, later]
    assert story.updated_at == T0 + timedelta(hours=1)


def test_adding_an_article_moves_updated_at_forward_only(store: Store) -> None:
    older = make_article("https://quay.example/older", published_at=T0)
    newer = make_article(
        "https://quay.example/newer", published_at=None, fetched_at=T0 + timedelta(9)
    )

    place(store, older, story=make_story(when=T0 + timedelta(hours=5)))
    after_older = store.articles.get_story("s-0123456789ab")
    place(store, newer, new_story=False)
    after_newer = store.articles.get_story("s-0123456789ab")

    assert after_older is not None
    assert after_older.updated_at == T0 + timedelta(hours=5)
    assert after_newer is not None
    assert after_newer.updated_at == T0 + timedelta(days=9)


def test_an_article_belongs_to_one_story_only(store: Store) -> None:
    article = place(store, make_article(), "s-aaaaaaaaaaaa")

    [again] = saved_items(store, [make_article()])  # re-saved: nothing changes
    assert (again.article.id, again.story_id) == (article, "s-aaaaaaaaaaaa")
    with pytest.raises(StoreError, match="Could not store the article"):
        place(store, make_article(), "s-aaaaaaaaaaaa", new_story=False)  # in it already
    with pytest.raises(StoreError, match="Could not store the article"):
        place(store, make_article(), "s-bbbbbbbbbbbb")

    assert article in (store.articles.get_story("s-aaaaaaaaaaaa") or make_story()).article_ids
    assert store.articles.get_story("s-bbbbbbbbbbbb") is None  # rolled back with the batch
    assert store.articles.stories_with_articles(["s-bbbbbbbbbbbb"]) == {"s-bbbbbbbbbbbb": []}
    story = store.articles.get_story("s-aaaaaaaaaaaa")
    assert story is not None
    assert story.article_ids == [article]


def test_adding_to_an_unknown_story_or_unknown_article_fails(store: Store) -> None:
    article = place(store, make_article("https://quay.example/first"))

    with pytest.raises(StoreError, match="no story s-ffffffffffff"):
        place(store, make_article(), "s-ffffffffffff", new_story=False)
    with pytest.raises(StoreError, match="Could not store"):
        store.articles.ingest_batch(
            [make_article()], lambda saved: BatchPlan(members=[("s-0123456789ab", 999_999)])
        )

    assert store.articles.find_by_url(make_article().url) is None  # the batch rolled back
    story = store.articles.get_story("s-0123456789ab")
    assert story is not None
    assert story.article_ids == [article]


def test_a_new_story_with_its_first_article(store: Store) -> None:
    article = place(
        store, make_article(published_at=T0 + timedelta(hours=2)), story=make_story(when=T0)
    )

    story = store.articles.get_story("s-0123456789ab")
    assert story is not None
    assert story.article_ids == [article]
    assert story.created_at == T0
    assert story.updated_at == T0 + timedelta(hours=2)


def test_creating_a_story_twice_keeps_the_first(store: Store) -> None:
    first = place(store, make_article("https://quay.example/a"))

    second = place(
        store,
        make_article("https://quay.example/b", published_at=T0 + timedelta(hours=1)),
        story=Story("s-0123456789ab", "Other", created_at=T0, updated_at=T0),
    )

    story = store.articles.get_story("s-0123456789ab")
    assert story is not None
    assert story.title == "Rotterdam port strike"
    assert story.article_ids == [first, second]  # the second joined the existing story
    assert story.updated_at == T0 + timedelta(hours=1)


def test_stories_are_listed_most_recently_updated_first(store: Store) -> None:
    place(
        store,
        make_article("https://quay.example/1", published_at=T0 - timedelta(days=3)),
        "s-000000000001",
    )
    place(
        store,
        make_article("https://quay.example/2", published_at=T0 + timedelta(hours=1)),
        "s-000000000002",
    )
    third = place(store, make_article("https://quay.example/3", published_at=T0), "s-000000000003")
    article = place(
        store,
        make_article("https://quay.example/4", published_at=T0 + timedelta(hours=2)),
        "s-000000000003",
        new_story=False,
    )

    recent = store.articles.stories_updated_since(T0 - timedelta(days=1))
    everything = store.articles.stories_updated_since(T0 - timedelta(days=30))

    assert [s.id for s in recent] == ["s-000000000003", "s-000000000002"]
    assert recent[0].article_ids == [third, article]
    assert [s.id for s in everything] == ["s-000000000003", "s-000000000002", "s-000000000001"]


# ---------------------------------------------------------------------- channels
def test_get_or_create_channel_is_idempotent(store: Store) -> None:
    channels = store.channels
    first = channels.get_or_create(Channel(Platform.SLACK, "C024BE91L", "#newsroom", "T0001"))
    again = channels.get_or_create(Channel(Platform.SLACK, "C024BE91L"))
    renamed = channels.get_or_create(Channel(Platform.SLACK, "C024BE91L", "#news"))
    moved = channels.get_or_create(Channel(Platform.SLACK, "C024BE91L", workspace="T0002"))
    other = channels.get_or_create(Channel(Platform.DISCORD, "C024BE91L", "news"))

    assert first.id is not None
    assert again == Channel(Platform.SLACK, "C024BE91L", "#newsroom", "T0001", id=first.id)
    assert renamed == Channel(Platform.SLACK, "C024BE91L", "#news", "T0001", id=first.id)
    assert moved == Channel(Platform.SLACK, "C024BE91L", "#news", "T0002", id=first.id)
    assert other.id not in (None, first.id)
    assert other.platform is Platform.DISCORD
    assert other.workspace == ""


def test_terminal_is_a_channel_like_any_other(store: Store) -> None:
    channel = store.channels.get_or_create(terminal())

    assert channel == Channel(Platform.CONSOLE, "terminal", "terminal", id=channel.id)
    assert channel.label == "terminal"
    assert store.channels.get_or_create(terminal()).id == channel.id


def posted(
    channel: Channel, message_id: str, thread_id: str | None, at: datetime, *ids: int
) -> PostedMessage:
    return PostedMessage(
        channel=channel,
        message_id=message_id,
        briefing_ids=list(ids),
        story_ids=["s-0123456789ab"] * len(ids),
        posted_at=at,
        thread_id=thread_id,
    )


def test_posts_are_recorded_once_per_channel_and_message(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom", "T0001")
    other = Channel(Platform.SLACK, "C0OTHER", "other", "T0001")
    start = store.channels.record_post(posted(slack, "1741586400.000100", None, T0, 1, 2))

    repeat = store.channels.record_post(
        posted(slack, "1741586400.000100", None, T0 + timedelta(hours=1), 3)
    )
    elsewhere = store.channels.record_post(posted(other, "1741586400.000100", None, T0, 4))

    assert start.id is not None
    assert start.channel.id is not None
    assert start == replace(
        posted(slack, "1741586400.000100", None, T0, 1, 2),
        channel=replace(slack, id=start.channel.id),
        id=start.id,
    )
    assert repeat == start  # a repeat is a no-op returning the stored record
    assert elsewhere.id not in (None, start.id)
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PostedMessageRow)).scalar() == 2


def test_posts_in_a_thread_are_listed_oldest_first(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom", "T0001")
    thread = "1741586400.000100"
    store.channels.record_post(
        posted(slack, "1741593600.000300", thread, T0 + timedelta(hours=2), 3)
    )
    store.channels.record_post(posted(slack, thread, None, T0, 1))
    store.channels.record_post(
        posted(slack, "1741590000.000200", thread, T0 + timedelta(hours=1), 2)
    )
    store.channels.record_post(posted(slack, "1741600000.000400", None, T0, 4))  # another thread
    store.channels.record_post(
        posted(Channel(Platform.SLACK, "C0OTHER"), "1741590000.000900", thread, T0, 9)
    )

    found = store.channels.posts_in_thread(slack, thread)

    assert [p.briefing_ids for p in found] == [[1], [2], [3]]
    assert [p.message_id for p in found] == [thread, "1741590000.000200", "1741593600.000300"]
    assert store.channels.posts_in_thread(slack, "1741500000.000000") == []
    assert store.channels.posts_in_thread(Channel(Platform.SLACK, "C0NEW"), thread) == []


# ---------------------------------------------------------------------- subscriptions
def subscription(
    channel: Channel, topic: str, schedule: str = "0 7 * * *", tz: str = "Europe/Amsterdam"
) -> Subscription:
    return Subscription(channel, topic, schedule, tz, created_by="U024BE7LH", created_at=T0)


def test_subscribing_again_replaces_the_schedule(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom", "T0001")
    first = store.subscriptions.upsert(subscription(slack, "Rotterdam  Port"))

    again = store.subscriptions.upsert(
        replace(
            subscription(slack, " rotterdam port ", "0 8 * * 1-5", "UTC"),
            created_by="U0SOMEONE",
            created_at=T0 + timedelta(days=1),
        )
    )

    assert first.id is not None
    assert first.channel.id is not None
    assert (first.topic, first.schedule, first.timezone) == (
        "rotterdam port",
        "0 7 * * *",
        "Europe/Amsterdam",
    )
    assert again == replace(
        first, schedule="0 8 * * 1-5", timezone="UTC"
    )  # same row; who and when it was created are kept
    assert store.subscriptions.of_channel(slack) == [again]


def test_subscriptions_of_a_channel_and_of_all_channels(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom", "T0001")
    discord = Channel(Platform.DISCORD, "1100223344556677", "news", "9900")
    shipping = store.subscriptions.upsert(subscription(slack, "shipping"))
    energy = store.subscriptions.upsert(subscription(slack, "energy"))
    ports = store.subscriptions.upsert(subscription(discord, "ports"))

    assert [s.topic for s in store.subscriptions.of_channel(slack)] == ["energy", "shipping"]
    assert store.subscriptions.of_channel(discord) == [ports]
    assert store.subscriptions.of_channel(Channel(Platform.SLACK, "C0NEW")) == []
    assert store.subscriptions.all() == [shipping, energy, ports]


def test_unsubscribing_says_whether_there_was_a_subscription(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom", "T0001")
    store.subscriptions.upsert(subscription(slack, "shipping"))
    kept = store.subscriptions.upsert(subscription(slack, "energy"))

    assert store.subscriptions.remove(slack, "  Shipping ") is True
    assert store.subscriptions.remove(slack, "shipping") is False
    assert store.subscriptions.remove(Channel(Platform.SLACK, "C0NEW"), "energy") is False
    assert store.subscriptions.all() == [kept]


# ---------------------------------------------------------------------- briefings
def story_with_two_articles(store: Store) -> tuple[int, int]:
    a = place(store, make_article("https://harbourpost.example/strike"))
    b = place(
        store,
        make_article(
            "https://dailyquay.example/strike",
            outlet="Daily Quay",
            body=STRIKE_TEXT + " Shipping lines diverted vessels to Antwerp.",
        ),
        new_story=False,
    )
    return a, b


def make_story_briefing(a: int, b: int, story_id: str = "s-0123456789ab") -> StoryBriefing:
    return StoryBriefing(
        story_id=story_id,
        title="Rotterdam port strike",
        updated_at=T0 + timedelta(hours=1),
        key_points=[
            KeyPoint("Port workers in Rotterdam walked out over pay.", [2, 1]),
            KeyPoint("Shipping lines diverted vessels to Antwerp.", [2]),
        ],
        sources=[
            SourceRef(
                1,
                "Harbour Post",
                "Rotterdam port workers strike over pay",
                "https://harbourpost.example/strike",
                T0,
                True,
                origins=("Reuters",),
                article_id=a,
            ),
            SourceRef(
                2,
                "Daily Quay",
                "Strike halts Rotterdam port",
                "https://dailyquay.example/strike",
                None,
                False,
                copy_of=1,
                article_id=b,
            ),
        ],
        coverage=Coverage(articles=2, outlets=2, independent_reports=1),
        summary="A 48-hour strike halted container traffic in Rotterdam.",
        notes=["Daily Quay is a teaser only."],
        mode=BriefingMode.LLM,
        disagreements=[KeyPoint("Sources differ on the length of the strike.", [1, 2])],
        whats_new=[KeyPoint("Vessels are being diverted to Antwerp.", [2])],
        verification=Verification(
            checked=4,
            removed=[("Port workers in Rotterdam walked out over pay.", 3)],
            added=[("Shipping lines diverted vessels to Antwerp.", 2)],
            dropped=["The port will reopen on Wednesday."],
        ),
        usage=TokenUsage(
            prompt_tokens=1830,
            completion_tokens=214,
            cost_usd=0.0011,
            cached=False,
            model="gpt-4.1-mini-2025-04-14",
        ),
    )


def test_briefing_round_trips_with_key_points_citations_and_sources(store: Store) -> None:
    a, b = story_with_two_articles(store)
    story_briefing = make_story_briefing(a, b)
    briefing = Briefing("rotterdam", T0 + timedelta(hours=2), BriefingMode.LLM, [story_briefing])

    ids = store.briefings.save(briefing, terminal())
    last = store.briefings.last("s-0123456789ab", terminal())

    assert last is not None
    assert [last.id] == ids
    assert last.briefing == story_briefing
    assert last.generated_at == T0 + timedelta(hours=2)
    assert last.mode is BriefingMode.LLM
    assert last.topic == "rotterdam"
    assert last.article_ids == [a, b]
    hashes = [
        (x.id, x.content_hash) for x in store.articles.get_articles([a, b]) if x.id is not None
    ]
    assert last.content_key == content_key(hashes)


def test_tokens_of_a_model_with_no_known_price_round_trip_with_an_unknown_cost(
    store: Store,
) -> None:
    a, b = story_with_two_articles(store)
    usage = TokenUsage(prompt_tokens=1200, completion_tokens=150, cost_usd=None, model="qwen3:8b")
    story_briefing = replace(make_story_briefing(a, b), usage=usage)
    store.briefings.save(Briefing("rotterdam", T0, BriefingMode.LLM, [story_briefing]), terminal())

    last = store.briefings.last("s-0123456789ab", terminal())

    assert last is not None
    assert last.briefing.usage == usage
    [record] = store.spend.usage_records()
    assert (record.cost_usd, record.model, record.total_tokens) == (None, "qwen3:8b", 1350)


def test_content_key_changes_when_a_covered_text_changes(store: Store) -> None:
    a, b = story_with_two_articles(store)
    briefing = Briefing("rotterdam", T0, BriefingMode.LLM, [make_story_briefing(a, b)])
    store.briefings.save(briefing, terminal())
    before = store.briefings.last("s-0123456789ab", terminal())

    updated = STRIKE_TEXT + " The union said talks would resume on Thursday."
    store.articles.save_article(make_article("https://harbourpost.example/strike", body=updated))
    store.briefings.save(
        Briefing(
            "rotterdam", T0 + timedelta(hours=1), BriefingMode.LLM, [make_story_briefing(a, b)]
        ),
        terminal(),
    )
    after = store.briefings.last("s-0123456789ab", terminal())

    assert before is not None
    assert after is not None
    assert before.content_key is not None
    assert after.content_key is not None
    assert before.content_key != after.content_key
    assert after.generated_at == T0 + timedelta(hours=1)


def test_last_briefing_is_the_newest_in_the_given_channel(store: Store) -> None:
    a, b = story_with_two_articles(store)
    slack = Channel(Platform.SLACK, "C024BE91L", "#newsroom")
    discord = Channel(Platform.DISCORD, "1100223344556677", "news")
    older = make_story_briefing(a, b)
    newer = make_story_briefing(a, b)
    newer.title = "Rotterdam strike: day two"

    store.briefings.save(Briefing("rotterdam", T0, BriefingMode.LLM, [older]), slack)
    store.briefings.save(
        Briefing("rotterdam", T0 + timedelta(hours=6), BriefingMode.LLM, [newer]), slack
    )
    store.briefings.save(
        Briefing("rotterdam", T0 + timedelta(hours=1), BriefingMode.LLM, [older]), discord
    )

    in_slack = store.briefings.last("s-0123456789ab", slack)
    in_discord = store.briefings.last("s-0123456789ab", discord)

    assert in_slack is not None
    assert in_slack.briefing.title == "Rotterdam strike: day two"
    assert in_discord is not None
    assert in_discord.generated_at == T0 + timedelta(hours=1)
    assert in_slack.channel_id == store.channels.get_or_create(slack).id
    assert store.briefings.last("s-0123456789ab", terminal()) is None  # none for the terminal
    assert store.briefings.last("s-0123456789ab", Channel(Platform.SLACK, "C0NEW")) is None


def test_extractive_briefing_without_usage_or_extras_round_trips(store: Store) -> None:
    _a, _ = story_with_two_articles(store)
    plain = StoryBriefing(
        story_id="s-0123456789ab",
        title="Rotterdam port strike",
        updated_at=T0,
        key_points=[KeyPoint("Port workers in Rotterdam walked out over pay.", [1])],
        sources=[
            SourceRef(1, "Harbour Post", "Strike", "https://harbourpost.example/strike", T0, True)
        ],
        coverage=Coverage(articles=1, outlets=1, independent_reports=1),
    )

    store.briefings.save(Briefing("rotterdam", T0, BriefingMode.EXTRACTIVE, [plain]), terminal())

    last = store.briefings.last("s-0123456789ab", terminal())
    assert last is not None
    assert last.briefing == plain
    assert last.article_ids == []
    assert last.content_key is None


def test_failed_briefing_save_stores_none_of_it(store: Store) -> None:
    a, b = story_with_two_articles(store)
    first = Briefing("rotterdam", T0, BriefingMode.LLM, [make_story_briefing(a, b)])
    store.briefings.save(first, terminal())
    broken = Briefing(
        "rotterdam",
        T0 + timedelta(hours=1),
        BriefingMode.LLM,
        [make_story_briefing(a, b), make_story_briefing(a, b, story_id="s-ffffffffffff")],
    )

    with pytest.raises(StoreError, match="Could not save the briefing on 'rotterdam'"):
        store.briefings.save(broken, Channel(Platform.SLACK, "C024BE91L"))

    last = store.briefings.last("s-0123456789ab", terminal())
    assert last is not None
    assert last.generated_at == T0
    assert store.briefings.last("s-0123456789ab", Channel(Platform.SLACK, "C024BE91L")) is None
    with store.engine.connect() as connection:
        channels = connection.execute(select(ChannelRow.platform, ChannelRow.external_id)).all()
    assert [tuple(row) for row in channels] == [("console", "terminal")]  # no Slack channel


def test_a_model_briefing_of_unchanged_articles_is_found_from_any_channel(store: Store) -> None:
    a, b = story_with_two_articles(store)
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom")
    model = make_story_briefing(a, b)
    extractive = replace(make_story_briefing(a, b), mode=BriefingMode.EXTRACTIVE, usage=None)
    store.briefings.save(Briefing("rotterdam", T0, BriefingMode.LLM, [model]), slack)
    store.briefings.save(
        Briefing("rotterdam", T0 + timedelta(hours=1), BriefingMode.EXTRACTIVE, [extractive]),
        terminal(),
    )
    key = content_key(
        (x.id, x.content_hash) for x in store.articles.get_articles([a, b]) if x.id is not None
    )

    reused = store.briefings.with_content("s-0123456789ab", key)
    newest_model = store.briefings.last_in_mode("s-0123456789ab")
    newest_extractive = store.briefings.last_in_mode("s-0123456789ab", mode=BriefingMode.EXTRACTIVE)

    assert reused is not None
    assert (reused.mode, reused.generated_at, reused.briefing) == (BriefingMode.LLM, T0, model)
    assert reused.channel_id == store.channels.get_or_create(slack).id
    assert newest_model == reused
    assert newest_extractive is not None
    assert newest_extractive.generated_at == T0 + timedelta(hours=1)
    assert store.briefings.with_content("s-0123456789ab", key, mode=BriefingMode.EXTRACTIVE) == (
        newest_extractive
    )
    assert store.briefings.with_content("s-0123456789ab", "0" * 64) is None
    assert store.briefings.last_in_mode("s-ffffffffffff") is None


# ---------------------------------------------------------------------- spend
def test_tokens_spent_are_added_up_per_channel_or_for_every_channel(store: Store) -> None:
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom")
    store.spend.record_spend(1200, terminal(), T0)
    store.spend.record_spend(300, slack, T0 + timedelta(hours=1))
    store.spend.record_spend(50, terminal(), T0 + timedelta(hours=2))

    spend = store.spend
    assert spend.tokens_spent_since(T0) == 1550
    assert spend.tokens_spent_since(T0, terminal()) == 1250
    assert spend.tokens_spent_since(T0, slack) == 300
    assert spend.tokens_spent_since(T0 + timedelta(hours=1)) == 350
    assert spend.tokens_spent_since(T0 + timedelta(hours=1), terminal()) == 50
    assert spend.tokens_spent_since(T0 + timedelta(hours=3)) == 0
    assert spend.tokens_spent_since(T0, Channel(Platform.SLACK, "C0NEW")) == 0


def test_usage_records_name_channels_by_their_label(store: Store) -> None:
    a, b = story_with_two_articles(store)
    slack = Channel(Platform.SLACK, "C024BE91L", "newsroom")
    unnamed = Channel(Platform.DISCORD, "1100223344556677")
    for hours, channel in enumerate((terminal(), slack, unnamed)):
        store.briefings.save(
            Briefing(
                "rotterdam",
                T0 + timedelta(hours=hours),
                BriefingMode.LLM,
                [make_story_briefing(a, b)],
            ),
            channel,
        )

    records = store.spend.usage_records()
    since = store.spend.usage_records(T0 + timedelta(hours=1))

    assert [r.channel for r in records] == [
        "terminal",
        "slack:newsroom",
        "discord:1100223344556677",
    ]
    assert [r.channel for r in since] == ["slack:newsroom", "discord:1100223344556677"]
    assert {(r.mode, r.total_tokens, r.cost_usd, r.cached) for r in records} == {
        (BriefingMode.LLM, 2044, 0.0011, False)
    }


# ---------------------------------------------------------------------- feed state
def test_feed_state_remembers_validators_per_url(store: Store) -> None:
    state = store.feeds
    feed = "https://harbourpost.example/world.rss"

    assert state.get(feed) is None
    state.set(feed, '"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")
    state.set("https://dailyquay.example/feed", None, None)
    first = state.get(feed)
    state.set(feed, '"5f2b-1b"', None)

    assert first == ('"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")
    assert state.get(feed) == ('"5f2b-1b"', None)
    assert store.feeds.get("https://dailyquay.example/feed") == (None, None)


def test_feed_states_are_set_many_at_once_at_the_store_clock(database_url: str) -> None:
    feeds = ["https://harbourpost.example/world.rss", "https://dailyquay.example/feed"]
    with Store.open(database_url, clock=lambda: T0) as store:
        store.feeds.set(feeds[0], '"old"', None)
        store.feeds.set_many({feeds[0]: ('"5f2b-1a"', None), feeds[1]: (None, "Mon, 10 Mar")})
        store.feeds.set_many({})

        assert store.feeds.get(feeds[0]) == ('"5f2b-1a"', None)
        assert store.feeds.get(feeds[1]) == (None, "Mon, 10 Mar")
        assert store.feeds.gathered_at(feeds) == {feeds[0]: T0, feeds[1]: T0}


def test_touch_records_when_sources_were_gathered_and_keeps_validators(store: Store) -> None:
    feed, folder = "https://harbourpost.example/world.rss", "/srv/news/inbox"
    store.feeds.set(feed, '"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")

    store.feeds.touch([feed, folder, folder], T0 + timedelta(hours=1))
    store.feeds.touch([], T0 + timedelta(hours=9))

    assert store.feeds.get(feed) == ('"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")
    assert store.feeds.get(folder) == (None, None)
    assert store.feeds.gathered_at([feed, folder, "https://never.example/feed"]) == {
        feed: T0 + timedelta(hours=1),
        folder: T0 + timedelta(hours=1),
    }
    assert store.feeds.gathered_at([]) == {}


# ---------------------------------------------------------------------- failures and time
def test_failed_write_raises_store_error_and_keeps_earlier_data(store: Store) -> None:
    kept = store.articles.save_article(make_article())

    with pytest.raises(
        StoreError, match=re.escape("Could not save the article https://newwire.example/x")
    ):
        store.articles.save_article(
            make_article("https://newwire.example/x", outlet="New Wire", copy_of=424242)
        )

    assert store.articles.get_articles([kept.id or 0]) == [kept]
    assert store.articles.find_by_url("https://newwire.example/x") is None
    with store.engine.connect() as connection:
        names = connection.execute(select(OutletRow.name)).scalars().all()
    assert names == ["Harbour Post"]  # the outlet of the failed write was rolled back too


def test_naive_datetimes_are_refused_with_a_clear_error(store: Store) -> None:
    naive = make_article(published_at=datetime(2025, 3, 10, 6, 0))

    with pytest.raises(StoreError, match="naive datetime 2025-03-10T06:00:00"):
        store.articles.save_article(naive)

    assert store.articles.find_by_url(naive.url) is None


def test_returned_datetimes_are_aware_utc(store: Store) -> None:
    amsterdam = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 10, 7, 0, tzinfo=amsterdam)
    saved = place(
        store,
        make_article(published_at=local, fetched_at=local),
        story=Story("s-0123456789ab", "Strike", created_at=local, updated_at=local),
    )

    reread = store.articles.get_articles([saved])[0]
    story = store.articles.get_story("s-0123456789ab")

    assert story is not None
    for value in (reread.published_at, reread.fetched_at, story.created_at, story.updated_at):
        assert value is not None
        assert value.tzinfo is UTC
        assert value == datetime(2025, 3, 10, 6, 0, tzinfo=UTC)


def test_data_survives_closing_and_reopening(database_url: str) -> None:
    with Store.open(database_url) as first:
        saved = first.articles.save_article(make_article())

    with Store.open(database_url) as second:
        assert second.articles.get_articles([saved.id or 0]) == [saved]


def test_concurrent_writers_of_the_same_articles_store_each_once(database_url: str) -> None:
    urls = [f"https://harbourpost.example/live/{n}" for n in range(12)]
    errors: list[BaseException] = []

    def ingest(hours: int) -> None:
        with Store.open(database_url) as writer:  # its own pool, like another process
            for url in urls:
                fetched = T0 + timedelta(hours=hours)
                try:
                    writer.articles.save_article(make_article(url, fetched_at=fetched))
                except BaseException as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(hours,)) for hours in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with Store.open(database_url) as store:
        saved = [store.articles.find_by_url(url) for url in urls]
        assert errors == []
        assert all(article is not None for article in saved)
        assert {a.fetched_at for a in saved if a is not None} == {T0 + timedelta(hours=3)}
        assert len(store.articles.get_articles(range(1, 1_000))) == len(urls)


# ---------------------------------------------------------------------- opening (SQLite only)
def test_open_creates_the_sqlite_directory_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "data" / "briefbot.sqlite3"

    with Store.open(f"sqlite:///{path}") as store, store.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()

    assert path.exists()
    assert (journal, foreign_keys) == ("wal", 1)


def test_in_memory_sqlite_database_works() -> None:
    with Store.open("sqlite://") as store:
        saved = store.articles.save_article(make_article())
        assert store.articles.find_by_url(saved.url) == saved


def test_bad_database_urls_raise_store_error() -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        Store.open("not a url")
    with pytest.raises(StoreError, match="No SQLAlchemy dialect"):
        Store.open("nosuchdb://host/db")


def test_unreachable_postgresql_raises_store_error() -> None:
    with pytest.raises(StoreError, match=r"postgresql\+psycopg://briefbot:\*\*\*@127\.0\.0\.1:1/"):
        Store.open("postgresql://briefbot:secret@127.0.0.1:1/briefbot?connect_timeout=2")


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert parse_url("postgresql://u@db/briefbot").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@db/briefbot").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.sqlite3").drivername == "sqlite"
