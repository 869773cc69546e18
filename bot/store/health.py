"""Source health: how polling each source goes (``bot.scheduler.polling`` writes it,
``briefbot sources`` shows it).

Rows are keyed by the source redacted (``bot.redact``): a feed URL's userinfo or a token in
its query is never written to the database, and the error messages stored are redacted too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import SourceHealth
from bot.redact import redact
from bot.store.database import Database, chunks
from bot.store.models import SourceHealthRow


def _health(row: SourceHealthRow) -> SourceHealth:
    return SourceHealth(
        source=row.source,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures or 0,
        next_poll_at=row.next_poll_at,
        last_articles=row.last_articles or 0,
    )


def _row(session: Session, key: str) -> SourceHealthRow:
    """The source's row, made (not yet flushed) when it has none."""
    row = session.get(SourceHealthRow, key)
    if row is None:
        row = SourceHealthRow(source=key, consecutive_failures=0, last_articles=0)
        session.add(row)
    return row


class SourceHealthRepository:
    """One row per polled source: last success, last error, failures in a row, next poll."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_many(self, sources: Sequence[str]) -> dict[str, SourceHealth]:
        """The health of each of ``sources`` that was ever polled, by the source as given
        (its ``SourceHealth.source`` is redacted), in one read."""
        keys: dict[str, list[str]] = {}
        for source in dict.fromkeys(sources):
            keys.setdefault(redact(source), []).append(source)

        def work(session: Session) -> dict[str, SourceHealth]:
            found: dict[str, SourceHealth] = {}
            for chunk in chunks(list(keys)):
                rows = session.scalars(
                    select(SourceHealthRow).where(SourceHealthRow.source.in_(chunk))
                )
                for row in rows:
                    found.update((source, _health(row)) for source in keys[row.source])
            return found

        return self._db.read("read the health of sources", work)

    def all(self) -> list[SourceHealth]:
        """Every source's health, by source."""

        def work(session: Session) -> list[SourceHealth]:
            rows = session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.source))
            return [_health(row) for row in rows]

        return self._db.read("read the health of sources", work)

    def record_success(
        self, source: str, at: datetime, articles: int, next_poll_at: datetime
    ) -> SourceHealth:
        """A poll of ``source`` at ``at`` worked (``articles`` gathered; 0 for a 304): the
        failures in a row start again from 0; the last error is kept for the record."""

        def work(session: Session) -> SourceHealth:
            row = _row(session, redact(source))
            row.last_polled_at = at
            row.last_success_at = at
            row.consecutive_failures = 0
            row.next_poll_at = next_poll_at
            row.last_articles = articles
            session.flush()
            return _health(row)

        return self._db.write(f"record a poll of {redact(source)}", work)

    def record_failure(
        self,
        source: str,
        at: datetime,
        error: str,
        next_poll_at: datetime | Callable[[int], datetime],
    ) -> SourceHealth:
        """A poll of ``source`` at ``at`` failed with ``error``: one more failure in a row.

        ``next_poll_at`` may be a function of the new number of failures in a row (the
        backoff), so the count it sees is the one stored in the same transaction."""

        def work(session: Session) -> SourceHealth:
            row = _row(session, redact(source))
            failures = (row.consecutive_failures or 0) + 1
            row.last_polled_at = at
            row.last_error_at = at
            row.last_error = redact(error)
            row.consecutive_failures = failures
            row.next_poll_at = next_poll_at(failures) if callable(next_poll_at) else next_poll_at
            session.flush()
            return _health(row)

        return self._db.write(f"record a failed poll of {redact(source)}", work)
