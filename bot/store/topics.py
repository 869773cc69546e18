"""Topic sources changed from chat, and platform deliveries already answered.

The topics file is the operator's; chat never writes it. A feed added from chat is an
``added`` row, a feed taken off (the file's or chat's) a ``removed`` row, one row per topic
and URL, so the latest change wins. ``bot.service`` merges them over the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.domain import topic_key
from bot.store.database import Database
from bot.store.models import ProcessedEventRow, TopicSourceRow

ADDED = "added"
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class SourceChange:
    """A feed added to or removed from a topic from chat, by whom and when."""

    topic: str
    url: str
    state: str
    changed_by: str
    changed_at: datetime


class TopicSourceRepository:
    """The chat's changes to topics' sources."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set(self, topic: str, url: str, state: str, changed_by: str) -> SourceChange:
        """Record that ``url`` was added to or removed from ``topic`` (replacing an earlier
        change of the same pair)."""
        if state not in (ADDED, REMOVED):
            raise ValueError(f"unknown source state {state!r}")
        key = topic_key(topic)

        def work(session: Session) -> SourceChange:
            row = session.scalar(
                select(TopicSourceRow).where(TopicSourceRow.topic == key, TopicSourceRow.url == url)
            )
            now = self._db.clock()
            if row is None:
                row = TopicSourceRow(
                    topic=key, url=url, state=state, changed_by=changed_by, changed_at=now
                )
                session.add(row)
            else:
                row.state, row.changed_by, row.changed_at = state, changed_by, now
            session.flush()
            return _change(row)

        return self._db.write(f"{state[:-1]} the source {url} of {key!r}", work)

    def changes(self) -> list[SourceChange]:
        """Every topic's source changes, oldest first."""

        def work(session: Session) -> list[SourceChange]:
            rows = session.scalars(
                select(TopicSourceRow).order_by(TopicSourceRow.changed_at, TopicSourceRow.id)
            )
            return [_change(row) for row in rows]

        return self._db.read("read the sources changed from chat", work)


def _change(row: TopicSourceRow) -> SourceChange:
    return SourceChange(row.topic, row.url, row.state, row.changed_by, row.changed_at)


class EventRepository:
    """Platform deliveries (Slack ``event_id``) claimed once, so a retry is answered once,
    across restarts and replicas."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, platform: str, event_id: str, *, keep: timedelta = timedelta(days=2)) -> bool:
        """True for the first claim of ``(platform, event_id)``, False for every later one.

        Claims older than ``keep`` are dropped on the way (platforms retry within minutes).
        """

        def work(session: Session) -> bool:
            now = self._db.clock()
            session.execute(
                delete(ProcessedEventRow).where(ProcessedEventRow.received_at < now - keep)
            )
            found = session.scalar(
                select(ProcessedEventRow.id).where(
                    ProcessedEventRow.platform == platform,
                    ProcessedEventRow.event_id == event_id,
                )
            )
            if found is not None:
                return False
            session.add(ProcessedEventRow(platform=platform, event_id=event_id, received_at=now))
            session.flush()
            return True

        # A concurrent claim of the same event loses on the unique constraint; ``write``
        # runs ``work`` again, which then finds the winner's row and answers False.
        return self._db.write(f"claim the {platform} event {event_id}", work)
