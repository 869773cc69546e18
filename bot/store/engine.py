"""Engines for the store: SQLite by default, PostgreSQL through psycopg 3.

A URL that cannot be used (not a URL, no such dialect or driver, a SQLite directory that
cannot be made) raises ``StoreConfigError``: a configuration problem (exit code 2).

SQLite gets foreign keys, WAL, a busy timeout and real transactions: the
``sqlite3`` module's legacy mode does not BEGIN before a SELECT or DDL, so
SQLAlchemy emits BEGIN itself (the recipe of SQLAlchemy's SQLite docs). Write
transactions use ``BEGIN IMMEDIATE`` (see ``writer``) so two processes never
deadlock upgrading a read lock to a write lock; they wait for each other.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, make_url, pool
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from bot.errors import StoreConfigError

log = logging.getLogger(__name__)

# Execution option read by the SQLite "begin" hook: how to BEGIN a transaction.
_BEGIN_OPTION = "briefbot_sqlite_begin"
_BUSY_TIMEOUT_SECONDS = 30.0


def parse_url(url: str) -> URL:
    """Parse a database URL; ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreConfigError(
            f"DATABASE_URL {url!r} is not a database URL; use e.g. "
            "sqlite:////path/to/briefbot.sqlite3 or postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe(url: URL) -> str:
    """The URL as safe to show in messages and logs (password hidden)."""
    return url.render_as_string(hide_password=True)


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its parent directory is created."""
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise StoreConfigError(
            f"No SQLAlchemy dialect for {describe(parsed)}; briefbot supports sqlite:/// "
            "and postgresql+psycopg:// URLs"
        ) from None
    except ImportError as exc:
        raise StoreConfigError(
            f"The database driver for {describe(parsed)} is not installed ({exc}); "
            "for PostgreSQL install briefbot[postgres]"
        ) from None


def _read_only(path: Path, url: URL) -> URL:
    """A read-only URL for a database in a directory we cannot write (SQLite could create
    neither a journal nor WAL's shared-memory file there): reading commands still work; a
    write transaction raises ``ConfigError`` (see ``_on_begin``)."""
    if not path.is_file():
        raise StoreConfigError(
            f"Cannot create the database {path}: its directory {path.parent} is read-only. "
            "Make it writable, or set BRIEFBOT_DATA_DIR or DATABASE_URL to a writable place."
        )
    log.info("%s is in a read-only directory: opened read-only", path)
    # No other process can write there either, so nothing changes under us (immutable),
    # unless a write-ahead log was left behind: then it must be read, locks and all.
    wal = path.with_name(path.name + "-wal").exists()
    options = "mode=ro" if wal else "mode=ro&immutable=1"
    return url.set(database=f"file:{quote(str(path))}?{options}", query={"uri": "true"})


def _sqlite_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"timeout": _BUSY_TIMEOUT_SECONDS}}
    read_only: Path | None = None  # the database file, when opened read-only
    if _is_memory(url):
        # One shared connection, or every checkout would see a new empty database.
        kwargs["poolclass"] = pool.StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    elif url.database and not url.database.startswith("file:"):
        path = Path(url.database).expanduser()
        directory = path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreConfigError(
                f"Cannot create the directory {directory} for the SQLite database: "
                f"{exc.strerror or exc}. Set BRIEFBOT_DATA_DIR or DATABASE_URL to a writable place."
            ) from None
        if not os.access(directory, os.W_OK):  # also a read-only file system, even for root
            url, read_only = _read_only(path, url), path
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only is None:  # setting the journal mode is a write
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "")
        if read_only is not None and mode == "IMMEDIATE":  # a write transaction (``writer``)
            raise StoreConfigError(
                f"The database {read_only} is in a read-only directory ({read_only.parent}) and "
                "this command writes to it. Make the directory writable, or set "
                "BRIEFBOT_DATA_DIR or DATABASE_URL to a writable place."
            )
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions are meant to write."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def reason(exc: SQLAlchemyError) -> str:
    """The driver's message (first line) rather than SQLAlchemy's wrapper text."""
    cause: BaseException = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
