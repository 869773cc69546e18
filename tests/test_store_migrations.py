"""Alembic migrations: they build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, func, inspect, select, table

from bot.domain import Article, BriefingMode, Channel, KeyPoint, Platform, TokenUsage, terminal
from bot.errors import StoreError
from bot.store import Store
from bot.store.engine import create_store_engine
from bot.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from bot.store.models import Base
from bot.usage import summarize_usage
from tests.fakes.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database with no tables at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'briefbot.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database()


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    engine = create_store_engine(empty_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_head_builds_exactly_the_models_schema(engine: Engine) -> None:
    upgrade(engine)

    assert current_revision(engine) == head_revision()
    assert table_names(engine) == {*Base.metadata.tables, "alembic_version"}
    assert schema_differences(engine) == []


def test_upgrading_again_changes_nothing(engine: Engine, empty_url: str) -> None:
    with Store.open(empty_url) as store:
        saved = store.articles.save_article(
            Article(
                url="https://harbourpost.example/strike",
                title="Rotterdam port workers strike",
                text="Port workers in Rotterdam walked out on Monday over pay.",
                outlet="Harbour Post",
                published_at=datetime(2025, 3, 10, 6, 0, tzinfo=UTC),
            )
        )

    upgrade(engine, head_revision())  # an explicit revision runs Alembic, no shortcut

    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    with Store.open(empty_url) as store:
        assert store.articles.get_articles([saved.id or 0]) == [saved]


def test_downgrade_to_base_drops_every_table_and_upgrade_restores_them(engine: Engine) -> None:
    upgrade(engine)

    downgrade(engine, "base")
    after_downgrade = table_names(engine)
    upgrade(engine)

    assert after_downgrade == {"alembic_version"}
    assert schema_differences(engine) == []


def test_a_database_from_a_newer_briefbot_is_refused(engine: Engine, empty_url: str) -> None:
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")

    with pytest.raises(StoreError, match="written by a newer briefbot"):
        Store.open(empty_url)


def test_the_head_revision_0004_adds_the_chat_tables_and_channel_workspaces(
    engine: Engine,
) -> None:
    upgrade(engine, "0003")
    before = table_names(engine)

    upgrade(engine, "0004")

    assert current_revision(engine) == "0004"
    assert table_names(engine) - before == {"subscriptions", "posted_messages"}
    columns = {column["name"]: column for column in inspect(engine).get_columns("channels")}
    assert "workspace" in columns
    assert columns["workspace"]["nullable"] is False
    downgrade(engine, "0003")
    assert table_names(engine) == before
    assert "workspace" not in {c["name"] for c in inspect(engine).get_columns("channels")}


def test_revision_0005_adds_chat_sources_and_processed_events(engine: Engine) -> None:
    upgrade(engine, "0004")
    before = table_names(engine)

    upgrade(engine, "0005")

    assert current_revision(engine) == "0005"
    assert table_names(engine) - before == {"topic_sources", "processed_events"}
    downgrade(engine, "0004")
    assert table_names(engine) == before


def test_revision_0006_adds_deliveries_source_health_and_subscription_settings(
    engine: Engine,
) -> None:
    upgrade(engine, "0005")
    before = table_names(engine)
    with engine.begin() as connection:  # a subscription made before the upgrade
        connection.exec_driver_sql(
            "INSERT INTO channels (platform, external_id, name, workspace) "
            "VALUES ('slack', 'C1', 'news', 'T1')"
        )
        connection.exec_driver_sql(
            "INSERT INTO subscriptions (channel_id, topic, schedule, timezone, created_by, "
            "created_at) VALUES (1, 'ukraine', 'daily 08:00', 'UTC', 'U1', '2026-11-30 08:00:00')"
        )

    upgrade(engine, "0006")

    assert current_revision(engine) == "0006"
    assert table_names(engine) - before == {"deliveries", "source_health"}
    with engine.connect() as connection:
        kept = connection.exec_driver_sql(
            "SELECT topic, nothing_new, updates FROM subscriptions"
        ).all()
    assert [tuple(row) for row in kept] == [("ukraine", "line", "off")]
    downgrade(engine, "0005")
    assert table_names(engine) == before
    assert "updates" not in {c["name"] for c in inspect(engine).get_columns("subscriptions")}


def test_revision_0007_adds_the_threads_question_and_answer_turns(
    engine: Engine,
) -> None:
    upgrade(engine, "0006")
    before = table_names(engine)

    upgrade(engine, "0007")

    assert current_revision(engine) == "0007"
    assert table_names(engine) - before == {"qa_turns"}
    columns = {column["name"] for column in inspect(engine).get_columns("qa_turns")}
    assert {"channel_id", "thread_id", "question", "answer", "story_id", "refused"} <= columns
    downgrade(engine, "0006")
    assert table_names(engine) == before


def test_the_head_revision_0008_keeps_the_posts_and_adds_their_topic(engine: Engine) -> None:
    upgrade(engine, "0007")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO channels (id, platform, external_id, name, workspace) "
            "VALUES (1, 'slack', 'C1', 'news', 'T1')"
        )
        connection.exec_driver_sql(
            "INSERT INTO posted_messages (channel_id, message_id, thread_id, briefing_ids, "
            "story_ids, posted_at) VALUES (1, '1.0001', NULL, '[3]', '[\"s-1\"]', "
            "'2026-12-01 08:00:00')"
        )

    upgrade(engine)

    assert head_revision() == "0008"
    assert current_revision(engine) == "0008"
    with engine.connect() as connection:
        kept = connection.exec_driver_sql(
            "SELECT message_id, story_ids, topic FROM posted_messages"
        ).all()
    [(message_id, story_ids, topic)] = kept
    assert (message_id, topic) == ("1.0001", None)
    assert (json.loads(story_ids) if isinstance(story_ids, str) else story_ids) == ["s-1"]
    downgrade(engine, "0007")
    assert "topic" not in {c["name"] for c in inspect(engine).get_columns("posted_messages")}


def test_migrations_ship_inside_the_package_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert MIGRATIONS_DIR.parent == Path(__file__).resolve().parent.parent / "bot" / "store"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert script.get_heads() == [head_revision()]


# ---------------------------------------------------------------------- 0001 -> 0002
STRIKE_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BRIEFING_0001: dict[str, Any] = {
    "story_id": "s-strike",
    "topic": "port strike",
    "channel_id": None,
    "generated_at": STRIKE_AT,
    "updated_at": STRIKE_AT,
    "title": "Port strike",
    "summary": None,
    "coverage_articles": 1,
    "coverage_outlets": 1,
    "coverage_independent_reports": 1,
    "content_key": None,
    "payload": {"notes": []},
}
ROWS_0001: dict[str, list[dict[str, Any]]] = {
    "stories": [
        {"id": "s-strike", "title": "Port strike", "created_at": STRIKE_AT, "updated_at": STRIKE_AT}
    ],
    "briefings": [
        {
            **BRIEFING_0001,
            "id": 1,
            "mode": "llm",
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "cost_usd": 0.00056,
        },
        {
            **BRIEFING_0001,
            "id": 2,
            "mode": "extractive",
            "generated_at": STRIKE_AT + timedelta(hours=1),
            "prompt_tokens": None,
            "completion_tokens": None,
            "cost_usd": None,
        },
    ],
    "briefing_sources": [
        {
            "briefing_id": 1,
            "number": 1,
            "article_id": None,
            "outlet": "Harbour Post",
            "title": "Rotterdam port workers strike",
            "url": "https://harbourpost.example/strike",
            "published_at": STRIKE_AT,
            "full_text": True,
            "origins": [],
            "copy_of": None,
        }
    ],
    "key_points": [
        {"id": 1, "briefing_id": 1, "kind": "key", "position": 0, "text": "Workers walked out."}
    ],
    "citations": [{"key_point_id": 1, "source": 1, "position": 0}],
}


def _insert_at_0001(engine: Engine) -> None:
    """Rows as a briefbot at revision 0001 saved them (no model column): a model briefing
    with a source and a cited key point, and an extractive briefing."""
    with engine.begin() as connection:
        tables = MetaData()
        tables.reflect(connection)
        for name, rows in ROWS_0001.items():  # parents first
            connection.execute(tables.tables[name].insert(), rows)


def test_upgrading_a_0001_database_keeps_its_briefings_with_no_model(
    engine: Engine, empty_url: str
) -> None:
    upgrade(engine, "0001")
    _insert_at_0001(engine)

    upgrade(engine)

    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []
    with Store.open(empty_url) as store:
        records = store.spend.usage_records()
        stored = store.briefings.last_in_mode("s-strike")
    assert [(r.mode, r.prompt_tokens, r.cost_usd, r.model) for r in records] == [
        (BriefingMode.LLM, 1000, 0.00056, None),
        (BriefingMode.EXTRACTIVE, 0, 0.0, None),
    ]
    assert stored is not None
    assert stored.briefing.key_points == [KeyPoint("Workers walked out.", [1])]
    assert [s.outlet for s in stored.briefing.sources] == ["Harbour Post"]
    assert stored.briefing.usage == TokenUsage(1000, 100, 0.00056, cached=False, model=None)
    report = summarize_usage(
        records, by="model", since=STRIKE_AT, now=STRIKE_AT + timedelta(days=1)
    )
    assert [key for key, _ in report.groups] == ["extractive", "unknown"]
    # 0003: the tokens saved briefings spent carry over into the daily budgets' spends.
    with Store.open(empty_url) as store:
        assert store.spend.tokens_spent_since(STRIKE_AT) == 1100
        assert store.spend.tokens_spent_since(STRIKE_AT + timedelta(minutes=1)) == 0
        # 0004: briefings and spends saved without a channel were the terminal's.
        assert store.spend.tokens_spent_since(STRIKE_AT, terminal()) == 1100
        assert store.briefings.last("s-strike", terminal()) is not None
    assert {r.channel for r in records} == {"terminal"}


def test_downgrading_to_0001_drops_only_the_model_column(engine: Engine) -> None:
    upgrade(engine, "0001")
    _insert_at_0001(engine)
    upgrade(engine)

    downgrade(engine, "0001")

    columns = {column["name"] for column in inspect(engine).get_columns("briefings")}
    assert "model" not in columns
    with engine.connect() as connection:
        counts = {
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in ("briefings", "briefing_sources", "key_points", "citations")
        }
    assert counts == {name: len(rows) for name, rows in ROWS_0001.items() if name != "stories"}


# ---------------------------------------------------------------------- 0003 -> 0004
SLACK_0003 = {"id": 7, "platform": "slack", "external_id": "C024BE91L", "name": "newsroom"}
ROWS_0003: dict[str, list[dict[str, Any]]] = {
    "stories": ROWS_0001["stories"],
    "channels": [SLACK_0003],
    "briefings": [
        {**ROWS_0001["briefings"][0], "model": "gpt-4.1-mini"},
        {**ROWS_0001["briefings"][1], "model": None},
        {
            **ROWS_0001["briefings"][0],
            "id": 3,
            "channel_id": 7,
            "generated_at": STRIKE_AT + timedelta(hours=2),
            "model": "gpt-4.1-mini",
        },
    ],
    "token_spends": [
        {"id": 1, "at": STRIKE_AT, "tokens": 1100, "channel_id": None},
        {"id": 2, "at": STRIKE_AT + timedelta(minutes=5), "tokens": 40, "channel_id": None},
        {"id": 3, "at": STRIKE_AT + timedelta(hours=2), "tokens": 1100, "channel_id": 7},
    ],
}


def _insert_at_0003(engine: Engine) -> None:
    """Rows as a briefbot at revision 0003 saved them: the terminal's briefings and spends
    with no channel, a Slack channel's with its channel."""
    with engine.begin() as connection:
        tables = MetaData()
        tables.reflect(connection)
        for name, rows in ROWS_0003.items():  # parents first
            connection.execute(tables.tables[name].insert(), rows)


def _channel_ids(engine: Engine, name: str) -> list[int | None]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT channel_id FROM {name} ORDER BY id")  # noqa: S608
        return [row[0] for row in rows]


def _channels(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, platform, external_id, name FROM channels ORDER BY platform, external_id"
        )
        return [tuple(row) for row in rows]


def test_upgrading_a_0003_database_gives_the_terminal_its_channel(
    engine: Engine, empty_url: str
) -> None:
    upgrade(engine, "0003")
    _insert_at_0003(engine)

    upgrade(engine)

    assert schema_differences(engine) == []
    [(terminal_id, *console), slack] = _channels(engine)
    assert slack == (7, "slack", "C024BE91L", "newsroom")
    assert console == ["console", "terminal", "terminal"]
    assert _channel_ids(engine, "briefings") == [terminal_id, terminal_id, 7]
    assert _channel_ids(engine, "token_spends") == [terminal_id, terminal_id, 7]
    with Store.open(empty_url) as store:
        channel = store.channels.get_or_create(terminal())
        last = store.briefings.last("s-strike", terminal())
        in_slack = store.briefings.last("s-strike", Channel(Platform.SLACK, "C024BE91L"))
        spent = store.spend.tokens_spent_since(STRIKE_AT, terminal())
        everywhere = store.spend.tokens_spent_since(STRIKE_AT)
        labels = [record.channel for record in store.spend.usage_records()]
    assert channel.id == terminal_id  # the migration's row, not a second one
    assert channel.workspace == ""
    assert last is not None
    assert last.generated_at == STRIKE_AT + timedelta(hours=1)
    assert in_slack is not None
    assert (in_slack.id, in_slack.channel_id) == (3, 7)
    assert (spent, everywhere) == (1140, 2240)
    assert labels == ["terminal", "terminal", "slack:newsroom"]


def test_downgrading_to_0003_gives_the_terminal_rows_back_no_channel(engine: Engine) -> None:
    upgrade(engine, "0003")
    _insert_at_0003(engine)
    upgrade(engine)

    downgrade(engine, "0003")

    assert current_revision(engine) == "0003"
    assert _channels(engine) == [(7, "slack", "C024BE91L", "newsroom")]
    assert _channel_ids(engine, "briefings") == [None, None, 7]
    assert _channel_ids(engine, "token_spends") == [None, None, 7]
    assert table_names(engine) >= {"briefings", "token_spends", "channels"}
    assert not {"subscriptions", "posted_messages"} & table_names(engine)


def test_a_database_with_nothing_of_the_terminals_gets_no_terminal_channel(
    engine: Engine,
) -> None:
    upgrade(engine, "0003")
    with engine.begin() as connection:
        tables = MetaData()
        tables.reflect(connection)
        connection.execute(tables.tables["channels"].insert(), [SLACK_0003])

    upgrade(engine)

    assert _channels(engine) == [(7, "slack", "C024BE91L", "newsroom")]
