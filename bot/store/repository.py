"""The store's one public class: ``Repository`` maps domain objects to rows.

Every public method is one transaction. A write either happens completely or
not at all: on any database error it rolls back and raises ``StoreError``
naming what could not be done, and nothing stored before is touched. Reads
raise ``StoreError`` the same way. Callers only ever see ``bot.domain``
dataclasses, never ORM rows, so nothing is lazily loaded after a transaction.

Merging an article that is already stored (same canonical URL) never loses
data: the id stays, a full text replaces a teaser but a teaser never replaces
a full text, the earliest ``published_at`` wins, ``fetched_at`` moves forward,
wire ``origins`` are united and ``copy_of`` is only changed when newly set;
the outlet, original URL and source first stored are kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import (
    Article,
    Briefing,
    BriefingMode,
    Channel,
    Coverage,
    KeyPoint,
    Platform,
    SourceRef,
    Story,
    StoryBriefing,
    TokenUsage,
    Verification,
    utcnow,
)
from bot.errors import StoreError
from bot.store.engine import create_store_engine, reason, writer
from bot.store.migrate import upgrade
from bot.store.models import (
    ArticleRow,
    BriefingRow,
    BriefingSourceRow,
    ChannelRow,
    CitationRow,
    FeedStateRow,
    KeyPointRow,
    OutletRow,
    StoryArticleRow,
    StoryRow,
    TokenSpendRow,
)

log = logging.getLogger(__name__)

RowT = TypeVar("RowT")
T = TypeVar("T")

# Ids per IN (...) clause: far below every backend's bound-parameter limit.
_CHUNK = 500
# The best known time of an article, as in ``Article.when``.
_ARTICLE_TIME = func.coalesce(ArticleRow.published_at, ArticleRow.fetched_at)
# ``KeyPointRow.kind`` of each list of points in a ``StoryBriefing``.
_KEY, _DISAGREEMENT, _NEW = "key", "disagreement", "new"


def content_key(articles: Iterable[tuple[int, str]]) -> str:
    """A key for "the same articles with the same texts": SHA-256 over sorted
    ``(article id, content hash)`` pairs. A briefing stored with this key can be
    reused for as long as the story's articles and their texts are unchanged."""
    lines = sorted(f"{article_id}:{content_hash}" for article_id, content_hash in set(articles))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredBriefing:
    """A story briefing as saved: what it said, when, how, and which articles it covered."""

    id: int
    briefing: StoryBriefing
    topic: str
    generated_at: datetime
    mode: BriefingMode
    article_ids: list[int] = field(default_factory=list)
    content_key: str | None = None
    channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One saved story briefing as cost accounting sees it.

    ``channel`` is ``platform:name`` (the external id when the channel has no name) or
    ``None`` for the terminal. ``mode`` is who wrote it: ``llm`` for the model, ``extractive``
    for the extractive briefer, also when it stood in after the model failed (tokens may have
    been spent all the same). ``cached`` marks a stored model briefing reused at no cost.
    ``cost_usd`` is ``None`` when tokens were spent but no cost was stored with them (the
    model's price was unknown); a briefing that spent no tokens costs ``0.0``. ``model`` is
    the model that wrote the briefing, ``None`` when none did or when it was saved before
    briefbot recorded models.
    """

    generated_at: datetime
    topic: str
    channel: str | None
    mode: BriefingMode
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    model: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class FeedState:
    """Conditional-GET validators kept in the store (the sources layer's ``FeedStateStore``)."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """``(etag, last_modified)`` remembered for ``url``, or ``None``."""
        return self._repository.get_feed_state(url)

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators of the latest successful fetch of ``url``."""
        self._repository.set_feed_state(url, etag, last_modified)


class Repository:
    """Persistence of articles, stories, channels, briefings and feed state."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        """Use ``engine`` as is (its schema must be migrated); ``open`` is the usual way in."""
        self.engine = engine
        self._clock = clock
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(writer(engine), expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utcnow) -> Repository:
        """Connect to ``url`` and bring its schema up to date (``alembic upgrade head``).

        For a SQLite file the parent directory is created first.
        """
        engine = create_store_engine(url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self, what: str, *, write: bool = True) -> Iterator[Session]:
        """One transaction; database errors become ``StoreError("Could not <what>: ...")``."""
        factory = self._writer if write else self._reader
        try:
            with factory.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            log.debug("could not %s", what, exc_info=True)
            raise StoreError(f"Could not {what}: {reason(exc)}") from exc

    def _write_retrying(self, what: str, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, once more if it hit a uniqueness conflict.

        Get-or-create writes (articles by URL, outlets, channels) read then
        insert; another process may insert the same row in between. The second
        attempt reads that row and merges into it. Any other error is raised.
        """
        try:
            with self._transaction(what) as session:
                return work(session)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            log.debug("retrying after a conflicting concurrent write: %s", exc)
        with self._transaction(what) as session:
            return work(session)

    # ------------------------------------------------------------------ articles
    def save_article(self, article: Article) -> Article:
        """Insert ``article``, or merge it into the stored one with the same canonical URL.

        Returns the article as stored (merged, with its id set). Its outlet is
        created on the fly from ``article.outlet`` and the URL's host.
        """
        return self._write_retrying(
            f"save the article {article.url}", lambda session: _save_article(session, article)
        )

    def get_articles(self, ids: Sequence[int]) -> list[Article]:
        """The stored articles with these ids, in the order given (unknown ids are skipped)."""
        with self._transaction("read articles", write=False) as session:
            found: dict[int, Article] = {}
            for chunk in _chunks(list(dict.fromkeys(ids))):
                rows = session.scalars(select(ArticleRow).where(ArticleRow.id.in_(chunk)))
                found.update((row.id, _article(row)) for row in rows)
            return [found[i] for i in ids if i in found]

    def find_by_url(self, url: str) -> Article | None:
        """The article stored under this canonical URL, if any."""
        with self._transaction(f"look up the article {url}", write=False) as session:
            row = session.scalar(select(ArticleRow).where(ArticleRow.url == url))
            return _article(row) if row is not None else None

    def find_by_hash(self, content_hash: str) -> Article | None:
        """The first stored article (lowest id) whose text has this hash; ``""`` finds nothing."""
        if not content_hash:
            return None
        with self._transaction("look up an article by content hash", write=False) as session:
            row = session.scalar(
                select(ArticleRow)
                .where(ArticleRow.content_hash == content_hash)
                .order_by(ArticleRow.id)
                .limit(1)
            )
            return _article(row) if row is not None else None

    def set_copy_of(self, article_id: int, original_id: int) -> None:
        """Record that article ``article_id`` is a wire/syndicated copy of ``original_id``."""
        with self._transaction(f"mark article {article_id} as a copy of {original_id}") as session:
            if article_id == original_id:
                raise StoreError(f"Article {article_id} cannot be a copy of itself")
            row = _require(session, ArticleRow, article_id, "article")
            _require(session, ArticleRow, original_id, "article")
            row.copy_of_id = original_id

    def recent_articles(self, since: datetime) -> list[Article]:
        """Articles whose time (published, else fetched) is at or after ``since``, oldest first."""
        with self._transaction("read recent articles", write=False) as session:
            rows = session.scalars(
                select(ArticleRow)
                .where(_article_since(since))
                .order_by(_ARTICLE_TIME, ArticleRow.id)
            )
            return [_article(row) for row in rows]

    # ------------------------------------------------------------------ stories
    def create_story(self, story: Story) -> None:
        """Store a new story (and its ``article_ids``, if any, as members added now)."""
        with self._transaction(f"create the story {story.id}") as session:
            if session.get(StoryRow, story.id) is not None:
                raise StoreError(f"Story {story.id} already exists")
            row = StoryRow(
                id=story.id,
                title=story.title,
                created_at=story.created_at,
                updated_at=story.updated_at,
            )
            session.add(row)
            session.flush()
            now = self._clock()
            for article_id in story.article_ids:
                _add_member(session, row, article_id, now)

    def add_story_article(self, story_id: str, article_id: int, added_at: datetime) -> None:
        """Put an article in a story (once; an article belongs to one story only).

        The story's ``updated_at`` moves up to the article's time if that is later.
        """
        with self._transaction(f"add article {article_id} to story {story_id}") as session:
            story = _require(session, StoryRow, story_id, "story", lock=True)
            _add_member(session, story, article_id, added_at)

    def set_story_title(self, story_id: str, title: str) -> None:
        with self._transaction(f"rename story {story_id}") as session:
            _require(session, StoryRow, story_id, "story").title = title

    def get_story(self, story_id: str) -> Story | None:
        """The story with its ``article_ids`` (ordered by article time), or ``None``."""
        with self._transaction(f"read story {story_id}", write=False) as session:
            row = session.get(StoryRow, story_id)
            return _stories(session, [row])[0] if row is not None else None

    def stories_updated_since(self, since: datetime) -> list[Story]:
        """Stories with ``updated_at`` at or after ``since``, most recently updated first."""
        with self._transaction("read recent stories", write=False) as session:
            rows = session.scalars(
                select(StoryRow)
                .where(StoryRow.updated_at >= since)
                .order_by(StoryRow.updated_at.desc(), StoryRow.id)
            )
            return _stories(session, list(rows))

    def list_stories(self) -> list[Story]:
        """Every story, most recently updated first."""
        with self._transaction("list stories", write=False) as session:
            rows = session.scalars(
                select(StoryRow).order_by(StoryRow.updated_at.desc(), StoryRow.id)
            )
            return _stories(session, list(rows))

    def story_articles(self, story_id: str) -> list[Article]:
        """The articles of a story, oldest first (by published, else fetched time)."""
        with self._transaction(f"read the articles of story {story_id}", write=False) as session:
            rows = session.scalars(
                select(ArticleRow)
                .join(StoryArticleRow, StoryArticleRow.article_id == ArticleRow.id)
                .where(StoryArticleRow.story_id == story_id)
                .order_by(_ARTICLE_TIME, ArticleRow.id)
            )
            return [_article(row) for row in rows]

    def story_of_article(self, article_id: int) -> str | None:
        """The id of the story the article belongs to, if any."""
        with self._transaction(f"read the story of article {article_id}", write=False) as session:
            return session.scalar(
                select(StoryArticleRow.story_id).where(StoryArticleRow.article_id == article_id)
            )

    # ------------------------------------------------------------------ channels
    def get_or_create_channel(self, channel: Channel) -> Channel:
        """The stored channel with this platform and external id, created if new.

        A non-empty ``name`` that differs from the stored one replaces it.
        """
        return self._write_retrying(
            f"store the {channel.platform} channel {channel.external_id}",
            lambda session: _channel(_channel_row(session, channel)),
        )

    # ------------------------------------------------------------------ briefings
    def save_briefing(self, briefing: Briefing, *, channel: Channel | None = None) -> list[int]:
        """Store every story briefing of ``briefing`` (all or none); returns their row ids.

        Each row keeps the key points with their citations, the numbered
        sources (with the store ids of their articles) and a ``content_key`` of
        the covered articles. ``channel`` (created if new) is where it was posted.
        """
        return self._write_retrying(
            f"save the briefing on {briefing.topic!r}",
            lambda session: _save_briefing(session, briefing, channel),
        )

    def last_briefing(
        self, story_id: str, *, channel: Channel | None = None
    ) -> StoredBriefing | None:
        """The newest saved briefing of a story in ``channel``.

        ``channel=None`` means briefings saved without a channel (the terminal);
        a channel never stored has no briefings.
        """
        with self._transaction(f"read the last briefing of story {story_id}", write=False) as (
            session
        ):
            query = select(BriefingRow).where(BriefingRow.story_id == story_id)
            if channel is None:
                query = query.where(BriefingRow.channel_id.is_(None))
            else:
                channel_id = _channel_id(session, channel)
                if channel_id is None:
                    return None
                query = query.where(BriefingRow.channel_id == channel_id)
            row = session.scalar(
                query.order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc()).limit(1)
            )
            return _stored_briefing(row) if row is not None else None

    # ------------------------------------------------------------------ feed state
    def feed_state(self) -> FeedState:
        """Conditional-GET memory for ``bot.sources.gather`` (a ``FeedStateStore``)."""
        return FeedState(self)

    def get_feed_state(self, url: str) -> tuple[str | None, str | None] | None:
        """``(etag, last_modified)`` last stored for a feed URL, or ``None``."""
        with self._transaction(f"read the feed state of {url}", write=False) as session:
            row = session.get(FeedStateRow, url)
            return (row.etag, row.last_modified) if row is not None else None

    def set_feed_state(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Store (insert or replace) the validators of a feed URL."""
        values = {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "checked_at": self._clock(),
        }
        with self._transaction(f"store the feed state of {url}") as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(FeedStateRow).values(values)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[FeedStateRow.url],
                    set_={key: statement.excluded[key] for key in values if key != "url"},
                )
            )

    # ------------------------------------------------------------------ LLM briefings
    def briefing_with_content(
        self, story_id: str, key: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None:
        """The newest saved ``mode`` briefing of a story whose ``content_key`` is ``key``,
        from any channel (a briefing of unchanged articles can be reused anywhere)."""
        with self._transaction(f"find a briefing of story {story_id} by content", write=False) as (
            session
        ):
            row = session.scalar(
                select(BriefingRow)
                .where(
                    BriefingRow.story_id == story_id,
                    BriefingRow.content_key == key,
                    BriefingRow.mode == str(mode),
                )
                .order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc())
                .limit(1)
            )
            return _stored_briefing(row) if row is not None else None

    def last_briefing_in_mode(
        self, story_id: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None:
        """The newest saved ``mode`` briefing of a story, from any channel."""
        with self._transaction(f"read the last briefing of story {story_id}", write=False) as (
            session
        ):
            row = session.scalar(
                select(BriefingRow)
                .where(BriefingRow.story_id == story_id, BriefingRow.mode == str(mode))
                .order_by(BriefingRow.generated_at.desc(), BriefingRow.id.desc())
                .limit(1)
            )
            return _stored_briefing(row) if row is not None else None

    def record_spend(self, tokens: int, channel: Channel | None, at: datetime) -> None:
        """Record tokens a model call spent at ``at``, in ``channel`` (``None`` = the
        terminal), the moment they are spent: the daily budgets of every process count them."""
        with self._transaction("record the tokens spent") as session:
            channel_id = _channel_row(session, channel).id if channel is not None else None
            session.add(TokenSpendRow(at=at, tokens=tokens, channel_id=channel_id))

    def tokens_spent_since(
        self, since: datetime, *, channel: Channel | None = None, every_channel: bool = False
    ) -> int:
        """Tokens model calls spent at or after ``since``: in ``channel`` (``None`` = the
        terminal), or in every channel with ``every_channel``."""
        with self._transaction("add up the tokens spent", write=False) as session:
            query = select(func.coalesce(func.sum(TokenSpendRow.tokens), 0)).where(
                TokenSpendRow.at >= since
            )
            if not every_channel:
                if channel is None:
                    query = query.where(TokenSpendRow.channel_id.is_(None))
                else:
                    channel_id = _channel_id(session, channel)
                    if channel_id is None:
                        return 0
                    query = query.where(TokenSpendRow.channel_id == channel_id)
            return int(session.scalar(query) or 0)

    def usage_records(self, since: datetime | None = None) -> list[UsageRecord]:
        """Every saved story briefing generated at or after ``since`` (all of them with
        ``None``), oldest first, with the tokens and estimated cost it took."""
        with self._transaction("read token usage", write=False) as session:
            query = (
                select(
                    BriefingRow.generated_at,
                    BriefingRow.topic,
                    ChannelRow.platform,
                    ChannelRow.external_id,
                    ChannelRow.name,
                    BriefingRow.mode,
                    BriefingRow.payload,
                    BriefingRow.prompt_tokens,
                    BriefingRow.completion_tokens,
                    BriefingRow.cost_usd,
                    BriefingRow.model,
                )
                .outerjoin(ChannelRow, ChannelRow.id == BriefingRow.channel_id)
                .order_by(BriefingRow.generated_at, BriefingRow.id)
            )
            if since is not None:
                query = query.where(BriefingRow.generated_at >= since)
            records: list[UsageRecord] = []
            for (
                when,
                topic,
                platform,
                external_id,
                name,
                mode,
                payload,
                prompt,
                completion,
                cost,
                model,
            ) in session.execute(query):
                label = None
                if platform is not None:
                    label = f"{platform}:{name or external_id}"
                prompt, completion = prompt or 0, completion or 0
                if cost is None and not (prompt or completion):
                    cost = 0.0  # no tokens, no cost
                records.append(
                    UsageRecord(
                        generated_at=when,
                        topic=topic,
                        channel=label,
                        mode=BriefingMode(mode),
                        cached=bool(payload.get("usage_cached", False)),
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        cost_usd=cost,
                        model=model,
                    )
                )
            return records


# ---------------------------------------------------------------------- helpers
def _chunks(ids: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _require(
    session: Session, model: type[RowT], key: object, what: str, *, lock: bool = False
) -> RowT:
    """The row of ``model`` with primary key ``key`` (locked FOR UPDATE if ``lock``)."""
    row = session.get(model, key, with_for_update=lock)
    if row is None:
        raise StoreError(f"There is no {what} {key} in the store")
    return row


def _host(url: str) -> str | None:
    host = urlsplit(url).hostname
    if not host:
        return None
    return host.removeprefix("www.")


def _outlet(session: Session, name: str, url: str) -> OutletRow:
    """The outlet named ``name`` (or, with no name, after the URL's host), created if new."""
    domain = _host(url)
    name = name.strip() or domain or "unknown"
    row = session.scalar(select(OutletRow).where(OutletRow.name == name))
    if row is None:
        row = OutletRow(name=name, domain=domain)
        session.add(row)
    elif row.domain is None and domain:
        row.domain = domain
    return row


def _save_article(session: Session, article: Article) -> Article:
    # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers):
    # a concurrent merge of the same article waits and then sees our result.
    row = session.scalar(select(ArticleRow).where(ArticleRow.url == article.url).with_for_update())
    if row is None:
        row = ArticleRow(
            url=article.url,
            original_url=article.original_url,
            title=article.title,
            text=article.text,
            full_text=article.full_text,
            outlet=_outlet(session, article.outlet, article.url),
            published_at=article.published_at,
            fetched_at=article.fetched_at,
            content_hash=article.content_hash,
            language=article.language,
            source=article.source,
            origins=list(dict.fromkeys(article.origins)),
            copy_of_id=article.copy_of,
        )
        session.add(row)
    else:
        _merge(row, article)
    session.flush()
    return _article(row)


def _merge(row: ArticleRow, new: Article) -> None:
    """Fold a re-gathered article into its stored row without losing anything stored."""
    takes_text = bool(new.text) and (new.full_text or not row.full_text)
    if takes_text:
        row.text = new.text
        row.full_text = new.full_text
        row.content_hash = new.content_hash or row.content_hash
        row.title = new.title or row.title
        row.language = new.language or row.language
    else:
        row.title = row.title or new.title
        row.language = row.language or new.language
    row.original_url = row.original_url or new.original_url
    row.source = row.source or new.source
    if new.published_at is not None and (
        row.published_at is None or new.published_at < row.published_at
    ):
        row.published_at = new.published_at
    row.fetched_at = max(row.fetched_at, new.fetched_at)
    row.origins = list(dict.fromkeys([*row.origins, *new.origins]))
    if new.copy_of is not None and new.copy_of != row.id:
        row.copy_of_id = new.copy_of


def _article(row: ArticleRow) -> Article:
    return Article(
        url=row.url,
        title=row.title,
        text=row.text,
        outlet=row.outlet.name,
        published_at=row.published_at,
        fetched_at=row.fetched_at,
        full_text=row.full_text,
        language=row.language,
        original_url=row.original_url,
        source=row.source,
        origins=tuple(row.origins),
        content_hash=row.content_hash,
        copy_of=row.copy_of_id,
        id=row.id,
    )


def _article_since(since: datetime) -> ColumnElement[bool]:
    """``Article.when >= since`` written so indexes on both columns can be used."""
    return or_(
        ArticleRow.published_at >= since,
        and_(ArticleRow.published_at.is_(None), ArticleRow.fetched_at >= since),
    )


def _add_member(session: Session, story: StoryRow, article_id: int, added_at: datetime) -> None:
    article = _require(session, ArticleRow, article_id, "article")
    current = session.scalar(
        select(StoryArticleRow.story_id).where(StoryArticleRow.article_id == article_id)
    )
    if current == story.id:
        return
    if current is not None:
        raise StoreError(f"Article {article_id} is already in story {current}")
    session.add(StoryArticleRow(story_id=story.id, article_id=article_id, added_at=added_at))
    when = article.published_at or article.fetched_at
    if when > story.updated_at:
        story.updated_at = when


def _stories(session: Session, rows: Sequence[StoryRow]) -> list[Story]:
    """Domain stories for ``rows`` with their article ids, ordered by article time."""
    members: dict[str, list[int]] = {row.id: [] for row in rows}
    for chunk in _chunks(list(members)):
        pairs = session.execute(
            select(StoryArticleRow.story_id, ArticleRow.id)
            .join(ArticleRow, ArticleRow.id == StoryArticleRow.article_id)
            .where(StoryArticleRow.story_id.in_(chunk))
            .order_by(_ARTICLE_TIME, ArticleRow.id)
        )
        for story_id, article_id in pairs:
            members[story_id].append(article_id)
    return [
        Story(
            id=row.id,
            title=row.title,
            created_at=row.created_at,
            updated_at=row.updated_at,
            article_ids=members[row.id],
        )
        for row in rows
    ]


def _channel_where(channel: Channel) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (
        ChannelRow.platform == str(channel.platform),
        ChannelRow.external_id == channel.external_id,
    )


def _channel_id(session: Session, channel: Channel) -> int | None:
    """The stored id of ``channel``; ``None`` when it was never stored."""
    return session.scalar(select(ChannelRow.id).where(*_channel_where(channel)))


def _channel_row(session: Session, channel: Channel) -> ChannelRow:
    row = session.scalar(select(ChannelRow).where(*_channel_where(channel)))
    if row is None:
        row = ChannelRow(
            platform=str(channel.platform), external_id=channel.external_id, name=channel.name
        )
        session.add(row)
        session.flush()
    elif channel.name and channel.name != row.name:
        row.name = channel.name
    return row


def _channel(row: ChannelRow) -> Channel:
    return Channel(
        platform=Platform(row.platform), external_id=row.external_id, name=row.name, id=row.id
    )


def _content_key_of(session: Session, sources: Sequence[SourceRef]) -> str | None:
    """``content_key`` of the stored articles behind ``sources`` (``None`` if there are none)."""
    ids = sorted({source.article_id for source in sources if source.article_id is not None})
    if not ids:
        return None
    pairs: list[tuple[int, str]] = []
    for chunk in _chunks(ids):
        pairs.extend(
            (article_id, content_hash)
            for article_id, content_hash in session.execute(
                select(ArticleRow.id, ArticleRow.content_hash).where(ArticleRow.id.in_(chunk))
            )
        )
    return content_key(pairs)


def _points(kind: str, points: Sequence[KeyPoint]) -> list[KeyPointRow]:
    return [
        KeyPointRow(
            kind=kind,
            position=position,
            text=point.text,
            citations=[
                CitationRow(source=source, position=order)
                for order, source in enumerate(dict.fromkeys(point.sources))
            ],
        )
        for position, point in enumerate(points)
    ]


def _briefing_row(briefing: Briefing, story: StoryBriefing, channel_id: int | None) -> BriefingRow:
    usage = story.usage
    payload: dict[str, Any] = {"notes": list(story.notes)}
    if story.verification is not None:
        verification = story.verification
        payload["verification"] = {
            "checked": verification.checked,
            "removed": [list(pair) for pair in verification.removed],
            "added": [list(pair) for pair in verification.added],
            "dropped": list(verification.dropped),
        }
    if usage is not None:
        payload["usage_cached"] = usage.cached
    return BriefingRow(
        story_id=story.story_id,
        topic=briefing.topic,
        channel_id=channel_id,
        mode=str(story.mode),
        generated_at=briefing.generated_at,
        updated_at=story.updated_at,
        title=story.title,
        summary=story.summary,
        coverage_articles=story.coverage.articles,
        coverage_outlets=story.coverage.outlets,
        coverage_independent_reports=story.coverage.independent_reports,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        cost_usd=usage.cost_usd if usage is not None else None,
        model=usage.model if usage is not None else None,
        payload=payload,
        sources=[
            BriefingSourceRow(
                number=source.id,
                article_id=source.article_id,
                outlet=source.outlet,
                title=source.title,
                url=source.url,
                published_at=source.published_at,
                full_text=source.full_text,
                origins=list(source.origins),
                copy_of=source.copy_of,
            )
            for source in story.sources
        ],
        key_points=[
            *_points(_KEY, story.key_points),
            *_points(_DISAGREEMENT, story.disagreements),
            *_points(_NEW, story.whats_new),
        ],
    )


def _save_briefing(session: Session, briefing: Briefing, channel: Channel | None) -> list[int]:
    channel_id = _channel_row(session, channel).id if channel is not None else None
    rows: list[BriefingRow] = []
    for story_briefing in briefing.stories:
        row = _briefing_row(briefing, story_briefing, channel_id)
        row.content_key = _content_key_of(session, story_briefing.sources)
        session.add(row)
        rows.append(row)
    session.flush()
    return [row.id for row in rows]


def _stored_briefing(row: BriefingRow) -> StoredBriefing:
    points: dict[str, list[KeyPoint]] = {_KEY: [], _DISAGREEMENT: [], _NEW: []}
    for point in row.key_points:  # ordered by (kind, position)
        points.setdefault(point.kind, []).append(
            KeyPoint(point.text, [citation.source for citation in point.citations])
        )
    payload = row.payload
    verification = None
    if isinstance(payload.get("verification"), dict):
        raw = payload["verification"]
        verification = Verification(
            checked=int(raw.get("checked", 0)),
            removed=[(str(text), int(source)) for text, source in raw.get("removed", [])],
            added=[(str(text), int(source)) for text, source in raw.get("added", [])],
            dropped=[str(text) for text in raw.get("dropped", [])],
        )
    usage = None
    if row.prompt_tokens is not None and row.completion_tokens is not None:
        cost = row.cost_usd
        if cost is None and not (row.prompt_tokens or row.completion_tokens):
            cost = 0.0  # no tokens, no cost
        usage = TokenUsage(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cost_usd=cost,
            cached=bool(payload.get("usage_cached", False)),
            model=row.model,
        )
    mode = BriefingMode(row.mode)
    story = StoryBriefing(
        story_id=row.story_id,
        title=row.title,
        updated_at=row.updated_at,
        key_points=points[_KEY],
        sources=[
            SourceRef(
                id=source.number,
                outlet=source.outlet,
                title=source.title,
                url=source.url,
                published_at=source.published_at,
                full_text=source.full_text,
                origins=tuple(source.origins),
                copy_of=source.copy_of,
                article_id=source.article_id,
            )
            for source in row.sources
        ],
        coverage=Coverage(
            articles=row.coverage_articles,
            outlets=row.coverage_outlets,
            independent_reports=row.coverage_independent_reports,
        ),
        summary=row.summary,
        notes=[str(note) for note in payload.get("notes", [])],
        mode=mode,
        disagreements=points[_DISAGREEMENT],
        whats_new=points[_NEW],
        verification=verification,
        usage=usage,
    )
    return StoredBriefing(
        id=row.id,
        briefing=story,
        topic=row.topic,
        generated_at=row.generated_at,
        mode=mode,
        article_ids=[s.article_id for s in row.sources if s.article_id is not None],
        content_key=row.content_key,
        channel_id=row.channel_id,
    )
