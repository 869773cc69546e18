"""Persistence: SQLAlchemy 2 models, the ``Repository`` and Alembic migrations.

SQLite by default (a file under the data dir), PostgreSQL through a
``postgresql+psycopg://`` ``DATABASE_URL``. ``Repository.open(url)`` migrates
the schema to the newest revision before returning.
"""

from bot.store.repository import FeedState, Repository, StoredBriefing, content_key

__all__ = ["FeedState", "Repository", "StoredBriefing", "content_key"]
