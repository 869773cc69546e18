"""One database: its engine and the transactions every repository runs in.

Every repository method is one transaction. A write either happens completely or not at
all: on any database error it rolls back and raises ``StoreError`` naming what could not be
done, and nothing stored before is touched. Reads raise ``StoreError`` the same way.
Repositories only hand out ``bot.domain`` dataclasses, never ORM rows, so nothing is lazily
loaded after a transaction. The engine's pool is safe to use from several threads at once:
the service runs store work in worker threads, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import utcnow
from bot.errors import StoreError
from bot.store.engine import reason, writer

log = logging.getLogger(__name__)

T = TypeVar("T")
RowT = TypeVar("RowT")

# Ids per IN (...) clause: far below every backend's bound-parameter limit.
CHUNK = 500


class Database:
    """An engine with read and write transactions and the store's clock."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(writer(engine), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, what: str, *, write: bool = True) -> Iterator[Session]:
        """One transaction; database errors become ``StoreError("Could not <what>: ...")``."""
        factory = self._writer if write else self._reader
        try:
            with factory.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            log.debug("could not %s", what, exc_info=True)
            raise StoreError(f"Could not {what}: {reason(exc)}") from exc

    def read(self, what: str, work: Callable[[Session], T]) -> T:
        with self.transaction(what, write=False) as session:
            return work(session)

    def write(self, what: str, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, once more if it hit a uniqueness conflict.

        Get-or-create writes (articles by URL, outlets, channels) read then insert; another
        process may insert the same row in between. The second attempt reads that row and
        merges into it. Any other error is raised.
        """
        try:
            with self.transaction(what) as session:
                return work(session)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            log.debug("retrying after a conflicting concurrent write: %s", exc)
        with self.transaction(what) as session:
            return work(session)

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT (for ``on_conflict_do_*``): PostgreSQL's or SQLite's."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def close(self) -> None:
        self.engine.dispose()


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def require(
    session: Session, model: type[RowT], key: object, what: str, *, lock: bool = False
) -> RowT:
    """The row of ``model`` with primary key ``key`` (locked FOR UPDATE if ``lock``)."""
    row = session.get(model, key, with_for_update=lock)
    if row is None:
        raise StoreError(f"There is no {what} {key} in the store")
    return row
