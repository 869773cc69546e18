"""Alembic migrations: they build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, func, inspect, select, table

from bot.domain import Article, BriefingMode, KeyPoint, TokenUsage
from bot.errors import StoreError
from bot.store import Repository
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
    with Repository.open(empty_url) as repo:
        saved = repo.save_article(
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
    with Repository.open(empty_url) as repo:
        assert repo.get_articles([saved.id or 0]) == [saved]


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
        Repository.open(empty_url)


def test_migrations_ship_inside_the_package_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert MIGRATIONS_DIR.parent == Path(__file__).resolve().parent.parent / "bot" / "store"
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert script.get_heads() == [head_revision()]


# ---------------------------------------------------------------------- 0001 -> 0002
STRIKE_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BRIEFING_0001 = {
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
    with Repository.open(empty_url) as repo:
        records = repo.usage_records()
        stored = repo.last_briefing_in_mode("s-strike")
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
    with Repository.open(empty_url) as repo:
        assert repo.tokens_spent_since(STRIKE_AT, every_channel=True) == 1100
        assert repo.tokens_spent_since(STRIKE_AT + timedelta(minutes=1), every_channel=True) == 0


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
