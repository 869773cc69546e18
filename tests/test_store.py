"""The repository, run case by case on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bot.domain import (
    Article,
    Briefing,
    BriefingMode,
    Channel,
    Coverage,
    KeyPoint,
    Platform,
    SourceRef,
    Story,
    StoryBriefing,
    TokenUsage,
    Verification,
)
from bot.errors import StoreError
from bot.store import Repository, content_key
from bot.store.engine import create_store_engine, parse_url
from bot.store.models import Base, OutletRow
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
    Repository.open(url).close()
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
    Repository.open(f"sqlite:///{path}").close()
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
def repo(database_url: str) -> Iterator[Repository]:
    with Repository.open(database_url) as repository:
        yield repository


def stored(repo: Repository, article: Article) -> int:
    saved = repo.save_article(article)
    assert saved.id is not None
    return saved.id


# ---------------------------------------------------------------------- articles
def test_saved_article_round_trips_every_field(repo: Repository) -> None:
    original = stored(repo, make_article("https://wire.example/a", outlet="Wire"))
    article = make_article(origins=("Reuters", "AP"), copy_of=original)

    saved = repo.save_article(article)

    assert saved.id is not None
    assert saved.id != original
    assert repo.get_articles([saved.id]) == [saved]
    assert saved == make_article(origins=("Reuters", "AP"), copy_of=original, id=saved.id)


def test_outlets_are_created_once_with_the_host_as_domain(repo: Repository) -> None:
    stored(repo, make_article("https://www.harbourpost.example/a"))
    stored(repo, make_article("https://www.harbourpost.example/b"))
    stored(repo, make_article("https://dailyquay.example/c", outlet=""))

    with repo.engine.connect() as connection:
        outlets = connection.execute(
            select(OutletRow.name, OutletRow.domain).order_by(OutletRow.name)
        ).all()
    assert [tuple(row) for row in outlets] == [
        ("Harbour Post", "harbourpost.example"),
        ("dailyquay.example", "dailyquay.example"),
    ]


def test_full_text_replaces_a_stored_teaser(repo: Repository) -> None:
    teaser_id = stored(repo, make_article(body=STRIKE_TEASER, full_text=False))

    merged = repo.save_article(make_article(body=STRIKE_TEXT, full_text=True))

    assert merged.id == teaser_id
    assert (merged.text, merged.full_text) == (STRIKE_TEXT, True)
    assert merged.content_hash == text_hash(STRIKE_TEXT)
    assert repo.get_articles([teaser_id]) == [merged]


def test_teaser_never_replaces_a_stored_full_text(repo: Repository) -> None:
    full_id = stored(repo, make_article(body=STRIKE_TEXT, full_text=True))

    merged = repo.save_article(make_article(body=STRIKE_TEASER, full_text=False))

    assert merged.id == full_id
    assert (merged.text, merged.full_text) == (STRIKE_TEXT, True)
    assert merged.content_hash == text_hash(STRIKE_TEXT)


def test_merge_keeps_earliest_publication_and_latest_fetch(repo: Repository) -> None:
    first = stored(repo, make_article(published_at=T0, fetched_at=T0 + timedelta(hours=1)))

    merged = repo.save_article(
        make_article(published_at=T0 + timedelta(hours=3), fetched_at=T0 + timedelta(hours=4))
    )
    again = repo.save_article(make_article(published_at=None, fetched_at=T0 + timedelta(hours=5)))

    assert merged.id == again.id == first
    assert merged.published_at == again.published_at == T0
    assert merged.fetched_at == T0 + timedelta(hours=4)
    assert again.fetched_at == T0 + timedelta(hours=5)


def test_merge_unites_origins_and_keeps_copy_of_unless_newly_set(repo: Repository) -> None:
    wire = stored(repo, make_article("https://wire.example/a", outlet="Wire"))
    other = stored(repo, make_article("https://wire.example/b", outlet="Wire"))
    first = stored(repo, make_article(origins=("Reuters",), copy_of=wire))

    kept = repo.save_article(make_article(origins=("AP", "Reuters")))
    moved = repo.save_article(make_article(copy_of=other))

    assert kept.id == moved.id == first
    assert kept.origins == ("Reuters", "AP")
    assert kept.copy_of == wire
    assert moved.copy_of == other
    assert moved.origins == ("Reuters", "AP")


def test_get_articles_keeps_requested_order_and_skips_unknown_ids(repo: Repository) -> None:
    a = stored(repo, make_article("https://quay.example/a"))
    b = stored(repo, make_article("https://quay.example/b"))

    found = repo.get_articles([b, 999_999, a])

    assert [article.id for article in found] == [b, a]
    assert repo.get_articles([]) == []


def test_find_by_url_and_by_hash(repo: Repository) -> None:
    first = stored(repo, make_article("https://quay.example/a"))
    stored(repo, make_article("https://copy.example/a", outlet="Copy Desk"))

    by_url = repo.find_by_url("https://copy.example/a")
    by_hash = repo.find_by_hash(text_hash(STRIKE_TEXT))

    assert by_url is not None
    assert by_url.outlet == "Copy Desk"
    assert by_hash is not None
    assert by_hash.id == first
    assert repo.find_by_url("https://quay.example/missing") is None
    assert repo.find_by_hash(text_hash("a text nobody wrote")) is None
    assert repo.find_by_hash("") is None


def test_set_copy_of_links_a_copy_to_its_original(repo: Repository) -> None:
    original = stored(repo, make_article("https://wire.example/a", outlet="Wire"))
    copy = stored(repo, make_article())

    repo.set_copy_of(copy, original)

    assert [a.copy_of for a in repo.get_articles([original, copy])] == [None, original]
    with pytest.raises(StoreError, match="no article 999999"):
        repo.set_copy_of(copy, 999_999)
    with pytest.raises(StoreError, match="copy of itself"):
        repo.set_copy_of(copy, copy)
    assert repo.get_articles([copy])[0].copy_of == original


def test_recent_articles_use_published_else_fetched_time(repo: Repository) -> None:
    old = stored(
        repo, make_article("https://quay.example/old", published_at=T0 - timedelta(days=9))
    )
    undated = stored(
        repo,
        make_article(
            "https://quay.example/undated", published_at=None, fetched_at=T0 + timedelta(hours=2)
        ),
    )
    dated = stored(repo, make_article("https://quay.example/dated", published_at=T0))
    # Fetched recently but published long ago: not recent.
    stored(
        repo,
        make_article(
            "https://quay.example/archive",
            published_at=T0 - timedelta(days=30),
            fetched_at=T0 + timedelta(hours=3),
        ),
    )

    recent = repo.recent_articles(T0 - timedelta(days=1))

    assert [a.id for a in recent] == [dated, undated]
    assert old not in [a.id for a in recent]


# ---------------------------------------------------------------------- stories
def make_story(story_id: str = "s-0123456789ab", when: datetime = T0) -> Story:
    return Story(story_id, "Rotterdam port strike", created_at=when, updated_at=when)


def test_story_round_trips_with_articles_in_time_order(repo: Repository) -> None:
    later = stored(repo, make_article("https://quay.example/later", published_at=T0 + timedelta(2)))
    earlier = stored(repo, make_article("https://quay.example/earlier", published_at=T0))
    repo.create_story(make_story())

    repo.add_story_article("s-0123456789ab", later, T0 + timedelta(days=2))
    repo.add_story_article("s-0123456789ab", earlier, T0 + timedelta(days=2))

    story = repo.get_story("s-0123456789ab")
    assert story == Story(
        "s-0123456789ab",
        "Rotterdam port strike",
        created_at=T0,
        updated_at=T0 + timedelta(days=2),
        article_ids=[earlier, later],
    )
    assert [a.id for a in repo.story_articles("s-0123456789ab")] == [earlier, later]
    assert repo.get_story("s-ffffffffffff") is None


def test_adding_an_article_moves_updated_at_forward_only(repo: Repository) -> None:
    repo.create_story(make_story(when=T0 + timedelta(hours=5)))
    older = stored(repo, make_article("https://quay.example/older", published_at=T0))
    newer = stored(
        repo,
        make_article("https://quay.example/newer", published_at=None, fetched_at=T0 + timedelta(9)),
    )

    repo.add_story_article("s-0123456789ab", older, T0)
    after_older = repo.get_story("s-0123456789ab")
    repo.add_story_article("s-0123456789ab", newer, T0)
    after_newer = repo.get_story("s-0123456789ab")

    assert after_older is not None
    assert after_older.updated_at == T0 + timedelta(hours=5)
    assert after_newer is not None
    assert after_newer.updated_at == T0 + timedelta(days=9)


def test_an_article_belongs_to_one_story_only(repo: Repository) -> None:
    article = stored(repo, make_article())
    repo.create_story(make_story("s-aaaaaaaaaaaa"))
    repo.create_story(make_story("s-bbbbbbbbbbbb"))
    repo.add_story_article("s-aaaaaaaaaaaa", article, T0)

    repo.add_story_article("s-aaaaaaaaaaaa", article, T0)  # again: nothing changes
    with pytest.raises(StoreError, match="already in story s-aaaaaaaaaaaa"):
        repo.add_story_article("s-bbbbbbbbbbbb", article, T0)

    assert repo.story_of_article(article) == "s-aaaaaaaaaaaa"
    assert repo.story_articles("s-bbbbbbbbbbbb") == []
    assert repo.story_of_article(999_999) is None


def test_adding_to_an_unknown_story_or_unknown_article_fails(repo: Repository) -> None:
    article = stored(repo, make_article())
    repo.create_story(make_story())

    with pytest.raises(StoreError, match="no story s-ffffffffffff"):
        repo.add_story_article("s-ffffffffffff", article, T0)
    with pytest.raises(StoreError, match="no article 999999"):
        repo.add_story_article("s-0123456789ab", 999_999, T0)

    assert repo.story_of_article(article) is None


def test_create_story_with_article_ids_adds_them(repo: Repository) -> None:
    article = stored(repo, make_article(published_at=T0 + timedelta(hours=2)))

    repo.create_story(
        Story("s-0123456789ab", "Strike", created_at=T0, updated_at=T0, article_ids=[article])
    )

    story = repo.get_story("s-0123456789ab")
    assert story is not None
    assert story.article_ids == [article]
    assert story.updated_at == T0 + timedelta(hours=2)


def test_creating_a_story_twice_fails_and_keeps_the_first(repo: Repository) -> None:
    repo.create_story(make_story())

    with pytest.raises(StoreError, match="already exists"):
        repo.create_story(Story("s-0123456789ab", "Other", created_at=T0, updated_at=T0))

    story = repo.get_story("s-0123456789ab")
    assert story is not None
    assert story.title == "Rotterdam port strike"


def test_set_story_title(repo: Repository) -> None:
    repo.create_story(make_story())

    repo.set_story_title("s-0123456789ab", "Rotterdam port strike enters second day")

    story = repo.get_story("s-0123456789ab")
    assert story is not None
    assert story.title == "Rotterdam port strike enters second day"
    with pytest.raises(StoreError, match="no story s-ffffffffffff"):
        repo.set_story_title("s-ffffffffffff", "Nothing")


def test_stories_are_listed_most_recently_updated_first(repo: Repository) -> None:
    repo.create_story(make_story("s-000000000001", when=T0 - timedelta(days=3)))
    repo.create_story(make_story("s-000000000002", when=T0 + timedelta(hours=1)))
    repo.create_story(make_story("s-000000000003", when=T0))
    article = stored(repo, make_article(published_at=T0 + timedelta(hours=2)))
    repo.add_story_article("s-000000000003", article, T0)

    recent = repo.stories_updated_since(T0 - timedelta(days=1))
    everything = repo.list_stories()

    assert [s.id for s in recent] == ["s-000000000003", "s-000000000002"]
    assert recent[0].article_ids == [article]
    assert [s.id for s in everything] == ["s-000000000003", "s-000000000002", "s-000000000001"]


# ---------------------------------------------------------------------- channels
def test_get_or_create_channel_is_idempotent(repo: Repository) -> None:
    first = repo.get_or_create_channel(Channel(Platform.SLACK, "C024BE91L", "#newsroom"))
    again = repo.get_or_create_channel(Channel(Platform.SLACK, "C024BE91L"))
    renamed = repo.get_or_create_channel(Channel(Platform.SLACK, "C024BE91L", "#news"))
    other = repo.get_or_create_channel(Channel(Platform.DISCORD, "C024BE91L", "news"))

    assert first.id is not None
    assert again == Channel(Platform.SLACK, "C024BE91L", "#newsroom", id=first.id)
    assert renamed == Channel(Platform.SLACK, "C024BE91L", "#news", id=first.id)
    assert other.id not in (None, first.id)
    assert other.platform is Platform.DISCORD


# ---------------------------------------------------------------------- briefings
def story_with_two_articles(repo: Repository) -> tuple[int, int]:
    a = stored(repo, make_article("https://harbourpost.example/strike"))
    b = stored(
        repo,
        make_article(
            "https://dailyquay.example/strike",
            outlet="Daily Quay",
            body=STRIKE_TEXT + " Shipping lines diverted vessels to Antwerp.",
        ),
    )
    repo.create_story(make_story())
    repo.add_story_article("s-0123456789ab", a, T0)
    repo.add_story_article("s-0123456789ab", b, T0)
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


def test_briefing_round_trips_with_key_points_citations_and_sources(repo: Repository) -> None:
    a, b = story_with_two_articles(repo)
    story_briefing = make_story_briefing(a, b)
    briefing = Briefing("rotterdam", T0 + timedelta(hours=2), BriefingMode.LLM, [story_briefing])

    ids = repo.save_briefing(briefing)
    last = repo.last_briefing("s-0123456789ab")

    assert last is not None
    assert [last.id] == ids
    assert last.briefing == story_briefing
    assert last.generated_at == T0 + timedelta(hours=2)
    assert last.mode is BriefingMode.LLM
    assert last.topic == "rotterdam"
    assert last.article_ids == [a, b]
    hashes = [(x.id, x.content_hash) for x in repo.get_articles([a, b]) if x.id is not None]
    assert last.content_key == content_key(hashes)


def test_tokens_of_a_model_with_no_known_price_round_trip_with_an_unknown_cost(
    repo: Repository,
) -> None:
    a, b = story_with_two_articles(repo)
    usage = TokenUsage(prompt_tokens=1200, completion_tokens=150, cost_usd=None, model="qwen3:8b")
    story_briefing = replace(make_story_briefing(a, b), usage=usage)
    repo.save_briefing(Briefing("rotterdam", T0, BriefingMode.LLM, [story_briefing]))

    last = repo.last_briefing("s-0123456789ab")

    assert last is not None
    assert last.briefing.usage == usage
    [record] = repo.usage_records()
    assert (record.cost_usd, record.model, record.total_tokens) == (None, "qwen3:8b", 1350)


def test_content_key_changes_when_a_covered_text_changes(repo: Repository) -> None:
    a, b = story_with_two_articles(repo)
    briefing = Briefing("rotterdam", T0, BriefingMode.LLM, [make_story_briefing(a, b)])
    repo.save_briefing(briefing)
    before = repo.last_briefing("s-0123456789ab")

    updated = STRIKE_TEXT + " The union said talks would resume on Thursday."
    repo.save_article(make_article("https://harbourpost.example/strike", body=updated))
    repo.save_briefing(
        Briefing(
            "rotterdam", T0 + timedelta(hours=1), BriefingMode.LLM, [make_story_briefing(a, b)]
        )
    )
    after = repo.last_briefing("s-0123456789ab")

    assert before is not None
    assert after is not None
    assert before.content_key is not None
    assert after.content_key is not None
    assert before.content_key != after.content_key
    assert after.generated_at == T0 + timedelta(hours=1)


def test_last_briefing_is_the_newest_in_the_given_channel(repo: Repository) -> None:
    a, b = story_with_two_articles(repo)
    slack = Channel(Platform.SLACK, "C024BE91L", "#newsroom")
    discord = Channel(Platform.DISCORD, "1100223344556677", "news")
    older = make_story_briefing(a, b)
    newer = make_story_briefing(a, b)
    newer.title = "Rotterdam strike: day two"

    repo.save_briefing(Briefing("rotterdam", T0, BriefingMode.LLM, [older]), channel=slack)
    repo.save_briefing(
        Briefing("rotterdam", T0 + timedelta(hours=6), BriefingMode.LLM, [newer]), channel=slack
    )
    repo.save_briefing(
        Briefing("rotterdam", T0 + timedelta(hours=1), BriefingMode.LLM, [older]), channel=discord
    )

    in_slack = repo.last_briefing("s-0123456789ab", channel=slack)
    in_discord = repo.last_briefing("s-0123456789ab", channel=discord)

    assert in_slack is not None
    assert in_slack.briefing.title == "Rotterdam strike: day two"
    assert in_discord is not None
    assert in_discord.generated_at == T0 + timedelta(hours=1)
    assert in_slack.channel_id == repo.get_or_create_channel(slack).id
    assert repo.last_briefing("s-0123456789ab") is None  # nothing saved without a channel
    assert repo.last_briefing("s-0123456789ab", channel=Channel(Platform.SLACK, "C0NEW")) is None


def test_extractive_briefing_without_usage_or_extras_round_trips(repo: Repository) -> None:
    _a, _ = story_with_two_articles(repo)
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

    repo.save_briefing(Briefing("rotterdam", T0, BriefingMode.EXTRACTIVE, [plain]))

    last = repo.last_briefing("s-0123456789ab")
    assert last is not None
    assert last.briefing == plain
    assert last.article_ids == []
    assert last.content_key is None


def test_failed_briefing_save_stores_none_of_it(repo: Repository) -> None:
    a, b = story_with_two_articles(repo)
    first = Briefing("rotterdam", T0, BriefingMode.LLM, [make_story_briefing(a, b)])
    repo.save_briefing(first)
    broken = Briefing(
        "rotterdam",
        T0 + timedelta(hours=1),
        BriefingMode.LLM,
        [make_story_briefing(a, b), make_story_briefing(a, b, story_id="s-ffffffffffff")],
    )

    with pytest.raises(StoreError, match="Could not save the briefing on 'rotterdam'"):
        repo.save_briefing(broken, channel=Channel(Platform.SLACK, "C024BE91L"))

    last = repo.last_briefing("s-0123456789ab")
    assert last is not None
    assert last.generated_at == T0
    assert (
        repo.last_briefing("s-0123456789ab", channel=Channel(Platform.SLACK, "C024BE91L")) is None
    )
    with repo.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM channels")).scalar() == 0


# ---------------------------------------------------------------------- feed state
def test_feed_state_remembers_validators_per_url(repo: Repository) -> None:
    state = repo.feed_state()
    feed = "https://harbourpost.example/world.rss"

    assert state.get(feed) is None
    state.set(feed, '"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")
    state.set("https://dailyquay.example/feed", None, None)
    first = state.get(feed)
    state.set(feed, '"5f2b-1b"', None)

    assert first == ('"5f2b-1a"', "Mon, 10 Mar 2025 06:00:00 GMT")
    assert state.get(feed) == ('"5f2b-1b"', None)
    assert repo.feed_state().get("https://dailyquay.example/feed") == (None, None)


# ---------------------------------------------------------------------- failures and time
def test_failed_write_raises_store_error_and_keeps_earlier_data(repo: Repository) -> None:
    kept = repo.save_article(make_article())

    with pytest.raises(
        StoreError, match=re.escape("Could not save the article https://newwire.example/x")
    ):
        repo.save_article(
            make_article("https://newwire.example/x", outlet="New Wire", copy_of=424242)
        )

    assert repo.get_articles([kept.id or 0]) == [kept]
    assert repo.find_by_url("https://newwire.example/x") is None
    with repo.engine.connect() as connection:
        names = connection.execute(select(OutletRow.name)).scalars().all()
    assert names == ["Harbour Post"]  # the outlet of the failed write was rolled back too


def test_naive_datetimes_are_refused_with_a_clear_error(repo: Repository) -> None:
    naive = make_article(published_at=datetime(2025, 3, 10, 6, 0))

    with pytest.raises(StoreError, match="naive datetime 2025-03-10T06:00:00"):
        repo.save_article(naive)

    assert repo.find_by_url(naive.url) is None


def test_returned_datetimes_are_aware_utc(repo: Repository) -> None:
    amsterdam = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 10, 7, 0, tzinfo=amsterdam)
    saved = repo.save_article(make_article(published_at=local, fetched_at=local))
    repo.create_story(Story("s-0123456789ab", "Strike", created_at=local, updated_at=local))

    reread = repo.get_articles([saved.id or 0])[0]
    story = repo.get_story("s-0123456789ab")

    assert story is not None
    for value in (reread.published_at, reread.fetched_at, story.created_at, story.updated_at):
        assert value is not None
        assert value.tzinfo is UTC
        assert value == datetime(2025, 3, 10, 6, 0, tzinfo=UTC)


def test_data_survives_closing_and_reopening(database_url: str) -> None:
    with Repository.open(database_url) as first:
        saved = first.save_article(make_article())

    with Repository.open(database_url) as second:
        assert second.get_articles([saved.id or 0]) == [saved]


def test_concurrent_writers_of_the_same_articles_store_each_once(database_url: str) -> None:
    urls = [f"https://harbourpost.example/live/{n}" for n in range(12)]
    errors: list[BaseException] = []

    def ingest(hours: int) -> None:
        with Repository.open(database_url) as writer:  # its own pool, like another process
            for url in urls:
                fetched = T0 + timedelta(hours=hours)
                try:
                    writer.save_article(make_article(url, fetched_at=fetched))
                except BaseException as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(hours,)) for hours in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with Repository.open(database_url) as repo:
        saved = [repo.find_by_url(url) for url in urls]
        assert errors == []
        assert all(article is not None for article in saved)
        assert {a.fetched_at for a in saved if a is not None} == {T0 + timedelta(hours=3)}
        assert len(repo.recent_articles(T0 - timedelta(days=1))) == len(urls)


# ---------------------------------------------------------------------- opening (SQLite only)
def test_open_creates_the_sqlite_directory_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "data" / "briefbot.sqlite3"

    with Repository.open(f"sqlite:///{path}") as repo, repo.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()

    assert path.exists()
    assert (journal, foreign_keys) == ("wal", 1)


def test_in_memory_sqlite_database_works() -> None:
    with Repository.open("sqlite://") as repo:
        saved = repo.save_article(make_article())
        assert repo.find_by_url(saved.url) == saved


def test_bad_database_urls_raise_store_error() -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        Repository.open("not a url")
    with pytest.raises(StoreError, match="No SQLAlchemy dialect"):
        Repository.open("nosuchdb://host/db")


def test_unreachable_postgresql_raises_store_error() -> None:
    with pytest.raises(StoreError, match=r"postgresql\+psycopg://briefbot:\*\*\*@127\.0\.0\.1:1/"):
        Repository.open("postgresql://briefbot:secret@127.0.0.1:1/briefbot?connect_timeout=2")


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert parse_url("postgresql://u@db/briefbot").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@db/briefbot").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.sqlite3").drivername == "sqlite"
