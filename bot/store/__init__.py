"""Persistence: SQLAlchemy 2 models, one small repository per aggregate, Alembic migrations.

SQLite by default (a file under the data dir), PostgreSQL through a
``postgresql+psycopg://`` ``DATABASE_URL``. ``Store.open(url)`` migrates the schema to the
newest revision before returning. The repositories:

- ``articles``: articles, outlets, stories and memberships (``bot.store.articles``);
- ``briefings``: saved story briefings (``bot.store.briefings``);
- ``channels``: channels and the messages posted to them (``bot.store.channels``);
- ``subscriptions``: the channels' digests (``bot.store.subscriptions``);
- ``spend``: tokens spent and the usage of saved briefings (``bot.store.spend``);
- ``feeds``: conditional-GET validators and when each source was gathered
  (``bot.store.feeds``);
- ``health``: how polling each source goes (``bot.store.health``);
- ``topic_sources``: feeds added to or taken off topics from chat, and ``events``: platform
  deliveries already answered (``bot.store.topics``);
- ``deliveries``: each digest slot and live update, claimed before it is posted
  (``bot.store.deliveries``); ``leader_lock()`` elects the scheduler's one process
  (``bot.store.leader``);
- ``turns``: the questions asked in each thread and their answers (``bot.store.turns``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import Engine

from bot.domain import BatchPlan, SavedArticle, StoredBriefing, content_key, utcnow
from bot.store.articles import ArticleRepository
from bot.store.briefings import BriefingRepository
from bot.store.channels import ChannelRepository
from bot.store.database import Database
from bot.store.deliveries import DeliveryRepository
from bot.store.engine import create_store_engine
from bot.store.feeds import FeedStateRepository
from bot.store.health import SourceHealthRepository
from bot.store.leader import LeaderLock, leader_lock
from bot.store.migrate import upgrade
from bot.store.spend import SpendRepository
from bot.store.subscriptions import SubscriptionRepository
from bot.store.topics import EventRepository, TopicSourceRepository
from bot.store.turns import TurnRepository
from bot.usage import UsageRecord

__all__ = [
    "BatchPlan",
    "SavedArticle",
    "Store",
    "StoredBriefing",
    "UsageRecord",
    "content_key",
]


class Store:
    """One database and its repositories."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.articles = ArticleRepository(db)
        self.briefings = BriefingRepository(db)
        self.channels = ChannelRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.spend = SpendRepository(db)
        self.feeds = FeedStateRepository(db)
        self.health = SourceHealthRepository(db)
        self.topic_sources = TopicSourceRepository(db)
        self.events = EventRepository(db)
        self.deliveries = DeliveryRepository(db)
        self.turns = TurnRepository(db)

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utcnow) -> Store:
        """Connect to ``url`` and bring its schema up to date (``alembic upgrade head``).

        For a SQLite file the parent directory is created first.
        """
        engine = create_store_engine(url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(Database(engine, clock=clock))

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def leader_lock(self) -> LeaderLock:
        """The lock electing the one process that runs the scheduler on this database."""
        return leader_lock(self.db.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
