"""Alembic migrations: they build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from bot.domain import Article
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
