"""Who runs the scheduler: one leader per database, elected by a lock the operating system
or the database server frees when the holder dies.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection
  of its own. A killed holder's connection closes and the server frees the lock at once;
  another replica's next try takes it.
- SQLite: an exclusive ``flock`` on a file next to the database (``briefbot.sqlite3.leader``);
  the kernel frees it when the holder's process ends, however it ends. An in-memory
  database has one process by definition: the lock is always granted.

``held()`` checks that the lock is still ours (the PostgreSQL connection may have dropped);
a leader that finds it lost stops scheduling.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# The advisory lock's key: the first 8 bytes of "briefbot" as a signed 64-bit number.
ADVISORY_KEY = int.from_bytes(b"briefbot", "big", signed=True)


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """True when this process holds the lock now (it may have held it before)."""
        ...

    def held(self) -> bool:
        """True while the lock is still ours."""
        ...

    def release(self) -> None: ...


class AdvisoryLock:
    """PostgreSQL's session-level advisory lock, on a connection kept for it."""

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self._engine = engine
        self._key = key
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is not None and self.held():
            return True
        self._drop()
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                ).scalar()
            )
        except SQLAlchemyError as exc:
            log.warning("could not try the scheduler lock: %s", exc)
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("the scheduler lock's connection is gone: %s", exc)
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        except SQLAlchemyError as exc:
            log.debug("unlocking the scheduler lock failed (it goes with the connection): %s", exc)
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except SQLAlchemyError:  # pragma: no cover - closing a dead connection
                pass
            self._connection = None


class FileLock:
    """An exclusive ``flock`` on ``path``, freed by the kernel when the process ends."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AlwaysLeader:
    """An in-memory database: this process is the only one."""

    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leader_lock(engine: Engine) -> LeaderLock:
    """The lock that elects the scheduler's leader among the processes using ``engine``."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    database = engine.url.database or ""
    if database in ("", ":memory:") or engine.url.query.get("mode") == "memory":
        return AlwaysLeader()
    return FileLock(Path(database).with_name(Path(database).name + ".leader"))
