"""Alembic migrations, configured in code so they run from an installed package.

There is no ``alembic.ini``: ``script_location`` points at the ``migrations``
directory shipped inside ``bot.store``, and the migrations run on a
connection we open, inside one transaction (so SQLite, which has
transactional DDL, either applies a whole upgrade or none of it). On
PostgreSQL an advisory lock keeps two processes starting at once from
migrating concurrently; on SQLite ``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreConfigError, StoreError
from bot.store.engine import describe, reason, writer

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
_PG_LOCK_KEY = 0x62726966  # "brif"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for our migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this version of briefbot knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"No migrations found in {MIGRATIONS_DIR}; the package is incomplete")
    return head


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this briefbot's migrations (not one from a newer one)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database).

    A SQLite file that cannot be opened (a directory, not a database, no permission) is a
    configuration problem (``StoreConfigError``); a server that cannot be reached is not.
    """
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        error = StoreConfigError if engine.dialect.name == "sqlite" else StoreError
        raise error(f"Cannot open the database {describe(engine.url)}: {reason(exc)}") from exc
    try:
        with connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"Cannot open the database {describe(engine.url)}: {reason(exc)}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (a no-op when it is there already).

    An up-to-date database is recognised with one read, without taking the
    write lock or loading the migration environment.
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (``base`` drops every table)."""
    _run(engine, "downgrade", revision)


def _run(engine: Engine, direction: str, revision: str) -> None:
    where = describe(engine.url)
    try:
        with writer(engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            config = alembic_config(connection)
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    except CommandError as exc:
        raise StoreError(
            f"Cannot {direction} the database {where} to {revision}: {exc}. If the database "
            "was written by a newer briefbot, upgrade briefbot or point DATABASE_URL elsewhere."
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"Cannot {direction} the database {where}: {reason(exc)}") from exc
    log.debug("database %s: %s to %s done", where, direction, revision)
