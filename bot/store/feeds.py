"""Feed state: conditional-GET validators per feed URL, and when each source was gathered.

Rows are keyed by the source redacted (``bot.redact``): a feed URL's userinfo or a token in
its query is never written to the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.redact import redact
from bot.store.database import Database, chunks
from bot.store.models import FeedStateRow


class FeedStateRepository:
    """The sources layer's ``FeedStateStore``, kept in the store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """``(etag, last_modified)`` remembered for ``url``, or ``None``."""

        def work(session: Session) -> tuple[str | None, str | None] | None:
            row = session.get(FeedStateRow, redact(url))
            return (row.etag, row.last_modified) if row is not None else None

        return self._db.read(f"read the feed state of {url}", work)

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators of the latest successful fetch of ``url``."""
        self.set_many({url: (etag, last_modified)})

    def set_many(self, validators: dict[str, tuple[str | None, str | None]]) -> None:
        """Store (insert or replace) the validators of several feed URLs at once."""
        if not validators:
            return
        now = self._db.clock()
        values = [
            {"url": redact(url), "etag": etag, "last_modified": modified, "checked_at": now}
            for url, (etag, modified) in validators.items()
        ]

        def work(session: Session) -> None:
            statement = self._db.insert(FeedStateRow)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[FeedStateRow.url],
                    set_={
                        "etag": statement.excluded.etag,
                        "last_modified": statement.excluded.last_modified,
                        "checked_at": statement.excluded.checked_at,
                    },
                ),
                values,
            )

        self._db.write("store feed states", work)

    def touch(self, sources: Sequence[str], at: datetime) -> None:
        """Record that ``sources`` (feed URLs, files, directories) were gathered at ``at``;
        validators already stored are kept."""
        if not sources:
            return

        def work(session: Session) -> None:
            statement = self._db.insert(FeedStateRow)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[FeedStateRow.url],
                    set_={"checked_at": statement.excluded.checked_at},
                ),
                [
                    {"url": s, "etag": None, "last_modified": None, "checked_at": at}
                    for s in dict.fromkeys(redact(source) for source in sources)
                ],
            )

        self._db.write("record when sources were gathered", work)

    def gathered_at(self, sources: Sequence[str]) -> dict[str, datetime]:
        """When each of ``sources`` was last gathered (those never gathered are missing)."""
        return {source: row.checked_at for source, row in self._rows(sources).items()}

    def validators(self, urls: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        """``(etag, last_modified)`` of each of ``urls`` that has some, in one read."""
        return {url: (row.etag, row.last_modified) for url, row in self._rows(urls).items()}

    def _rows(self, sources: Sequence[str]) -> dict[str, FeedStateRow]:
        """The stored row of each source (by its redacted key), in one read."""
        keys: dict[str, list[str]] = {}
        for source in dict.fromkeys(sources):
            keys.setdefault(redact(source), []).append(source)

        def work(session: Session) -> dict[str, FeedStateRow]:
            found: dict[str, FeedStateRow] = {}
            for chunk in chunks(list(keys)):
                for row in session.scalars(select(FeedStateRow).where(FeedStateRow.url.in_(chunk))):
                    found.update((source, row) for source in keys[row.url])
            return found

        return self._db.read("read the feed states of sources", work)
