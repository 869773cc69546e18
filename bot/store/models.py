"""The database schema as SQLAlchemy 2 typed ORM classes.

The ``*Row`` classes are private to the store: the rest of briefbot only sees
the dataclasses of ``bot.domain``, which ``bot.store.repository`` maps to and
from these rows. ``bot/store/migrations/versions`` creates exactly this schema;
a test compares the two, so any change here needs a new migration.

Datetimes go through ``UTCDateTime``: aware UTC in, aware UTC out, whatever
the backend keeps (SQLite drops the offset, PostgreSQL converts to the session
time zone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Named constraints and indexes, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC ``datetime`` in Python.

    Naive datetimes are refused rather than guessed at: every layer of
    briefbot works in aware UTC, so a naive one is a bug worth surfacing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the store; "
                "pass a timezone-aware UTC datetime"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":  # stored as text without an offset: always UTC
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), str: Text()}


class OutletRow(Base):
    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    domain: Mapped[str | None]


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(unique=True)  # canonical URL
    original_url: Mapped[str | None]
    title: Mapped[str]
    text: Mapped[str]
    full_text: Mapped[bool] = mapped_column(Boolean)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id"), index=True)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    fetched_at: Mapped[datetime] = mapped_column(index=True)
    content_hash: Mapped[str] = mapped_column(String(128), index=True)
    language: Mapped[str | None] = mapped_column(String(35))
    source: Mapped[str]
    origins: Mapped[list[str]] = mapped_column(JSON)
    copy_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )

    outlet: Mapped[OutletRow] = relationship(lazy="joined", innerjoin=True)


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class StoryArticleRow(Base):
    """Membership of an article in a story; an article belongs to at most one story."""

    __tablename__ = "story_articles"
    __table_args__ = (UniqueConstraint("article_id"),)

    story_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime]


class ChannelRow(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str]
    name: Mapped[str]
    workspace: Mapped[str] = mapped_column(server_default="")


class TokenSpendRow(Base):
    """Tokens one model call spent, recorded the moment the reply came (before its briefing
    is saved, if it ever is), so every process sees the day's spend against the budgets."""

    __tablename__ = "token_spends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    tokens: Mapped[int]
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), index=True
    )


class BriefingRow(Base):
    """The briefing of one story as generated at one time (for one channel, if any).

    ``updated_at`` is the story's time as the briefing saw it; ``content_key``
    identifies the covered articles and their texts (see ``content_key``);
    ``model`` is the model that wrote it (also when its reply was unusable and the
    extractive briefer stood in), ``NULL`` when none did or it was not recorded;
    ``payload`` keeps the extras (notes, verification, ...) as JSON.
    """

    __tablename__ = "briefings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("stories.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str]
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), index=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    generated_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    title: Mapped[str]
    summary: Mapped[str | None]
    coverage_articles: Mapped[int]
    coverage_outlets: Mapped[int]
    coverage_independent_reports: Mapped[int]
    content_key: Mapped[str | None] = mapped_column(String(64), index=True)
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    cost_usd: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    sources: Mapped[list[BriefingSourceRow]] = relationship(
        order_by="BriefingSourceRow.number", cascade="all, delete-orphan", lazy="selectin"
    )
    key_points: Mapped[list[KeyPointRow]] = relationship(
        order_by="[KeyPointRow.kind, KeyPointRow.position]",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class BriefingSourceRow(Base):
    """A numbered source of one briefing; ``copy_of`` is another source's number."""

    __tablename__ = "briefing_sources"

    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("briefings.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    outlet: Mapped[str]
    title: Mapped[str]
    url: Mapped[str]
    published_at: Mapped[datetime | None]
    full_text: Mapped[bool] = mapped_column(Boolean)
    origins: Mapped[list[str]] = mapped_column(JSON)
    copy_of: Mapped[int | None]


class KeyPointRow(Base):
    """A point of a briefing; ``kind`` is ``key``, ``disagreement`` or ``new``."""

    __tablename__ = "key_points"
    __table_args__ = (UniqueConstraint("briefing_id", "kind", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("briefings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]
    text: Mapped[str]

    citations: Mapped[list[CitationRow]] = relationship(
        order_by="CitationRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class CitationRow(Base):
    """A key point cites a briefing source by its number; ``position`` keeps the order."""

    __tablename__ = "citations"

    key_point_id: Mapped[int] = mapped_column(
        ForeignKey("key_points.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int]


class FeedStateRow(Base):
    """Conditional-GET validators last seen for a feed URL."""

    __tablename__ = "feed_state"

    url: Mapped[str] = mapped_column(primary_key=True)
    etag: Mapped[str | None]
    last_modified: Mapped[str | None]
    checked_at: Mapped[datetime]


class SubscriptionRow(Base):
    """A channel's digest of a topic: ``schedule`` in the IANA ``timezone``."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("channel_id", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    topic: Mapped[str]
    schedule: Mapped[str]
    timezone: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    # What a digest with nothing new does: "line" (posts one line) or "silent".
    nothing_new: Mapped[str] = mapped_column(String(16), server_default="line")
    # "live": a material development of a story the channel was briefed on is posted into
    # that story's thread as it happens; "off": digests only.
    updates: Mapped[str] = mapped_column(String(16), server_default="off")

    channel: Mapped[ChannelRow] = relationship(lazy="joined", innerjoin=True)


class PostedMessageRow(Base):
    """A briefing posted to a chat channel: the platform's message id (Slack ``ts``, Discord
    snowflake), the thread, and the saved story briefings and stories it carried."""

    __tablename__ = "posted_messages"
    __table_args__ = (UniqueConstraint("channel_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    message_id: Mapped[str]
    thread_id: Mapped[str | None] = mapped_column(index=True)
    briefing_ids: Mapped[list[int]] = mapped_column(JSON)
    story_ids: Mapped[list[str]] = mapped_column(JSON)
    posted_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str | None]  # what an ``ask TOPIC`` answer answered (no briefing says)

    channel: Mapped[ChannelRow] = relationship(lazy="joined", innerjoin=True)


class TopicSourceRow(Base):
    """A feed added to (``state`` ``added``) or taken off (``removed``) a topic from chat;
    merged over the topics file, which chat never writes."""

    __tablename__ = "topic_sources"
    __table_args__ = (UniqueConstraint("topic", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str]
    url: Mapped[str]
    state: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str]
    changed_at: Mapped[datetime]


class ProcessedEventRow(Base):
    """A platform delivery (Slack ``event_id``) already claimed by a handler."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str]
    received_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryRow(Base):
    """One scheduled delivery (a digest slot or a live update) of a subscription.

    Claimed before anything is posted and completed after, with the posted message's id:
    ``(subscription_id, slot_key)`` is unique, so a slot is delivered at most once whoever
    (restart, replica, takeover) tries again. ``state`` is ``claimed``, ``completed``,
    ``skipped`` (nothing to post) or ``failed`` (given up, with ``error``).
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "slot_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "digest" or "update"
    slot_key: Mapped[str]
    slot_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), index=True)
    owner: Mapped[str]
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    late: Mapped[bool] = mapped_column(Boolean, server_default=false())
    claimed_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    message_id: Mapped[str | None] = mapped_column(nullable=True)
    thread_id: Mapped[str | None] = mapped_column(nullable=True)
    story_id: Mapped[str | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(nullable=True)
    # The saved story briefings and stories the delivery carries, stored before it is
    # posted: a recovered post is recorded with them (for thread follow-ups).
    briefing_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    story_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class SourceHealthRow(Base):
    """How polling one source goes: keyed by the source redacted (``bot.redact``)."""

    __tablename__ = "source_health"

    source: Mapped[str] = mapped_column(primary_key=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    next_poll_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_articles: Mapped[int] = mapped_column(Integer, server_default="0")


class QATurnRow(Base):
    """A question asked in a channel's thread and the answer it got (conversation memory:
    a follow-up is resolved against the thread's earlier turns)."""

    __tablename__ = "qa_turns"
    __table_args__ = (Index(None, "channel_id", "thread_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    thread_id: Mapped[str]
    question: Mapped[str]
    answer: Mapped[str]
    story_id: Mapped[str | None] = mapped_column(nullable=True)
    refused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    asked_at: Mapped[datetime]
