"""Articles and the stories they form: one aggregate, one repository.

Merging an article that is already stored (same canonical URL) never loses data: the id
stays, a full text replaces a teaser but a teaser never replaces a full text, the earliest
``published_at`` wins, ``fetched_at`` moves forward, wire ``origins`` are united and
``copy_of`` is only changed when newly set; the outlet, original URL and source first stored
are kept.

Ingest writes a batch of articles in ONE transaction (``ingest_batch``): the articles are
inserted or merged, the caller's plan decides copies and stories from the stored ids, and the
copies, new stories, memberships and story times are written before the commit. A crash at
any moment leaves either the whole batch or none of it: never a story without its first
article, nor an article stored without the story it was placed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bot.domain import Article, BatchPlan, SavedArticle, Story
from bot.errors import StoreError
from bot.store.database import Database, chunks
from bot.store.models import ArticleRow, OutletRow, StoryArticleRow, StoryRow

# The best known time of an article, as in ``Article.when``.
_ARTICLE_TIME = func.coalesce(ArticleRow.published_at, ArticleRow.fetched_at)


Planner = Callable[[list[SavedArticle]], BatchPlan]

# The transaction-scoped lock that makes ingest batches of every process take turns on
# PostgreSQL (SQLite's BEGIN IMMEDIATE already does): each batch then sees every batch
# committed before it, so concurrent ingests cluster as a sequential one would.
_INGEST_LOCK = 0x62726966  # "brif"


class BatchReader:
    """Reads inside an ingest batch's transaction (after its lock is taken)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def memberships_after(self, article_id: int) -> list[tuple[int, str | None]]:
        return _memberships_after(self._session, article_id)

    def get_articles(self, ids: Sequence[int]) -> list[Article]:
        return _get_articles(self._session, ids)


CatchUp = Callable[[BatchReader], None]


def _no_plan(saved: list[SavedArticle]) -> BatchPlan:
    return BatchPlan()


class ArticleRepository:
    """Articles, outlets, stories and story memberships."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ writes
    def ingest_batch(
        self, articles: Sequence[Article], plan: Planner, *, catch_up: CatchUp | None = None
    ) -> list[Article]:
        """Store ``articles`` (inserted or merged) and what ``plan`` decides about them, in one
        transaction; returns the articles as stored, copies marked. Any failure, the plan's
        included, rolls the whole batch back (a database error raises ``StoreError``).

        Batches of every process take turns; ``catch_up`` runs first, once the turn is
        ours, and reads what other processes committed before it."""
        what = (
            f"store the article {articles[0].url}"
            if len(articles) == 1
            else f"store a batch of {len(articles)} articles"
        )
        # Not ``Database.write``: its retry after a conflict would run the plan twice, and
        # the plan updates the caller's indices. The caller retries, one article at a time.
        with self._db.transaction(what) as session:
            if self._db.dialect == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_INGEST_LOCK)))
            if catch_up is not None:
                catch_up(BatchReader(session))
            return _ingest(session, self._db, articles, plan)

    def save_article(self, article: Article) -> Article:
        """Insert ``article``, or merge it into the stored one with the same canonical URL
        (once more after a conflicting concurrent insert of the same URL)."""
        return self._db.write(
            f"save the article {article.url}",
            lambda session: _ingest(session, self._db, [article], _no_plan)[0],
        )

    # ------------------------------------------------------------------ reads
    def get_articles(self, ids: Sequence[int]) -> list[Article]:
        """The stored articles with these ids, in the order given (unknown ids are skipped)."""

        return self._db.read("read articles", lambda session: _get_articles(session, ids))

    def find_by_url(self, url: str) -> Article | None:
        """The article stored under this canonical URL, if any."""

        def work(session: Session) -> Article | None:
            row = session.scalar(select(ArticleRow).where(ArticleRow.url == url))
            return _article(row) if row is not None else None

        return self._db.read(f"look up the article {url}", work)

    def get_story(self, story_id: str) -> Story | None:
        """The story with its ``article_ids`` (ordered by article time), or ``None``."""

        def work(session: Session) -> Story | None:
            row = session.get(StoryRow, story_id)
            return _stories(session, [row])[0] if row is not None else None

        return self._db.read(f"read story {story_id}", work)

    def stories_updated_since(self, since: datetime) -> list[Story]:
        """Stories with ``updated_at`` at or after ``since``, most recently updated first."""

        def work(session: Session) -> list[Story]:
            rows = session.scalars(
                select(StoryRow)
                .where(StoryRow.updated_at >= since)
                .order_by(StoryRow.updated_at.desc(), StoryRow.id)
            )
            return _stories(session, list(rows))

        return self._db.read("read recent stories", work)

    def stories_with_articles(self, story_ids: Sequence[str]) -> dict[str, list[Article]]:
        """The articles of each story, oldest first, in one read."""

        def work(session: Session) -> dict[str, list[Article]]:
            found: dict[str, list[Article]] = {story_id: [] for story_id in story_ids}
            for chunk in chunks(list(found)):
                rows = session.execute(
                    select(StoryArticleRow.story_id, ArticleRow)
                    .join(ArticleRow, ArticleRow.id == StoryArticleRow.article_id)
                    .where(StoryArticleRow.story_id.in_(chunk))
                    .order_by(_ARTICLE_TIME, ArticleRow.id)
                )
                for story_id, row in rows:
                    found[story_id].append(_article(row))
            return found

        return self._db.read("read the articles of stories", work)

    def memberships_after(self, article_id: int) -> list[tuple[int, str | None]]:
        """``(article id, story id or None)`` of every article with an id above
        ``article_id``, by id: how a long-running process learns what others stored."""
        return self._db.read(
            "read newly stored articles", lambda session: _memberships_after(session, article_id)
        )

    def max_article_id(self) -> int:
        return self._db.read(
            "read the newest article id",
            lambda session: int(
                session.scalar(select(func.coalesce(func.max(ArticleRow.id), 0))) or 0
            ),
        )


# ---------------------------------------------------------------------- the batch write


def _get_articles(session: Session, ids: Sequence[int]) -> list[Article]:
    found: dict[int, Article] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        rows = session.scalars(select(ArticleRow).where(ArticleRow.id.in_(chunk)))
        found.update((row.id, _article(row)) for row in rows)
    return [found[i] for i in ids if i in found]


def _memberships_after(session: Session, article_id: int) -> list[tuple[int, str | None]]:
    return [
        (int(a), s)
        for a, s in session.execute(
            select(ArticleRow.id, StoryArticleRow.story_id)
            .outerjoin(StoryArticleRow, StoryArticleRow.article_id == ArticleRow.id)
            .where(ArticleRow.id > article_id)
            .order_by(ArticleRow.id)
        )
    ]


def _ingest(
    session: Session, db: Database, articles: Sequence[Article], plan: Planner
) -> list[Article]:
    outlets = _outlets(session, db, articles)
    urls = list(dict.fromkeys(a.url for a in articles))
    stored: dict[str, ArticleRow] = {}
    for chunk in chunks(urls):
        # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers):
        # a concurrent merge of the same article waits and then sees our result.
        rows = session.scalars(
            select(ArticleRow).where(ArticleRow.url.in_(chunk)).with_for_update()
        )
        stored.update((row.url, row) for row in rows)
    members: dict[int, str] = {}
    ids = [row.id for row in stored.values()]
    for id_chunk in chunks(ids):
        members.update(
            (article_id, story_id)
            for article_id, story_id in session.execute(
                select(StoryArticleRow.article_id, StoryArticleRow.story_id).where(
                    StoryArticleRow.article_id.in_(id_chunk)
                )
            )
        )

    fresh: dict[
        str, Article
    ] = {}  # url -> the first article of the batch with that URL, inserted below
    for article in articles:
        if article.url not in stored and article.url not in fresh:
            fresh[article.url] = article
    new_ids: dict[str, int] = {}
    if fresh:
        values = [_values(article, outlets) for article in fresh.values()]
        table = cast(Table, ArticleRow.__table__)  # Core, not the ORM's slower bulk path
        result = session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), values
        )
        new_ids = {url: int(i) for url, (i,) in zip(fresh, result.all(), strict=True)}

    saved: list[SavedArticle] = []
    for article in articles:
        row = stored.get(article.url)
        if row is not None:  # stored before, or a repeat within this batch
            _merge(row, article)
            saved.append(SavedArticle(_article(row), False, members.get(row.id)))
            continue
        if fresh.get(article.url) is article:
            saved.append(SavedArticle(_inserted(article, new_ids[article.url]), True))
            continue
        row = session.get(ArticleRow, new_ids[article.url])  # repeated URL within the batch
        assert row is not None
        stored[article.url] = row
        _merge(row, article)
        saved.append(SavedArticle(_article(row), False))
    session.flush()
    _twins(session, saved)

    decided = plan(saved)
    _write_plan(session, db, saved, decided)
    for item in saved:
        copy = decided.copies.get(item.article.id or 0)
        if copy is not None:
            item.article.copy_of = copy
    return [item.article for item in saved]


def _twins(session: Session, saved: list[SavedArticle]) -> None:
    """For each new article, the earliest earlier article with the same text hash."""
    new = [item for item in saved if item.new and item.article.content_hash]
    hashes = list({item.article.content_hash for item in new})
    by_hash: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for chunk in chunks(hashes):
        for article_id, content_hash, copy_of in session.execute(
            select(ArticleRow.id, ArticleRow.content_hash, ArticleRow.copy_of_id)
            .where(ArticleRow.content_hash.in_(chunk))
            .order_by(ArticleRow.id)
        ):
            by_hash[content_hash].append((article_id, copy_of))
    for item in new:
        own = item.article.id
        assert own is not None
        earlier = [pair for pair in by_hash.get(item.article.content_hash, []) if pair[0] < own]
        item.twin = earlier[0] if earlier else None


def _write_plan(session: Session, db: Database, saved: list[SavedArticle], plan: BatchPlan) -> None:
    by_id = {item.article.id: item.article for item in saved}
    if plan.copies:
        if any(copy == original for copy, original in plan.copies.items()):
            raise StoreError("An article cannot be a copy of itself")
        session.execute(
            update(ArticleRow),
            [{"id": copy, "copy_of_id": original} for copy, original in plan.copies.items()],
        )
    if plan.new_stories:
        statement = db.insert(StoryRow).on_conflict_do_nothing(index_elements=[StoryRow.id])
        session.execute(
            statement,
            [
                {
                    "id": s.id,
                    "title": s.title,
                    "created_at": s.created_at,
                    "updated_at": s.updated_at,
                }
                for s in plan.new_stories
            ],
        )
    if not plan.members:
        return
    story_ids = list({story_id for story_id, _ in plan.members})
    known: set[str] = set()
    for chunk in chunks(story_ids):
        known.update(session.scalars(select(StoryRow.id).where(StoryRow.id.in_(chunk))))
    missing = sorted(set(story_ids) - known)
    if missing:
        raise StoreError(f"There is no story {missing[0]} in the store")
    added_at = db.clock()
    session.execute(
        insert(cast(Table, StoryArticleRow.__table__)),
        [
            {"story_id": story_id, "article_id": article_id, "added_at": added_at}
            for story_id, article_id in plan.members
        ],
    )
    latest: dict[str, datetime] = {}
    for story_id, article_id in plan.members:
        article = by_id.get(article_id)
        if article is None:
            continue
        when = article.when
        if story_id not in latest or when > latest[story_id]:
            latest[story_id] = when
    session.execute(
        update(cast(Table, StoryRow.__table__))
        .where(StoryRow.id == bindparam("b_id"), StoryRow.updated_at < bindparam("b_when"))
        .values(updated_at=bindparam("b_when")),
        [{"b_id": story_id, "b_when": when} for story_id, when in latest.items()],
    )


def _outlet_name(article: Article) -> str:
    return article.outlet.strip() or _host(article.url) or "unknown"


def _outlets(session: Session, db: Database, articles: Sequence[Article]) -> dict[str, int]:
    """Outlet ids by name for a batch, the missing ones created (their host as domain)."""
    wanted = {_outlet_name(a): _host(a.url) for a in reversed(articles)}
    found: dict[str, int] = {}
    rows: list[OutletRow] = []
    for chunk in chunks(list(wanted)):
        rows.extend(session.scalars(select(OutletRow).where(OutletRow.name.in_(chunk))))
    for row in rows:
        found[row.name] = row.id
        if row.domain is None and wanted[row.name]:
            row.domain = wanted[row.name]
    missing = [{"name": n, "domain": d} for n, d in wanted.items() if n not in found]
    if missing:
        result = session.execute(
            insert(OutletRow).returning(OutletRow.id, sort_by_parameter_order=True), missing
        )
        for values, (outlet_id,) in zip(missing, result.all(), strict=True):
            found[str(values["name"])] = int(outlet_id)
    return found


def _values(article: Article, outlets: dict[str, int]) -> dict[str, Any]:
    return {
        "url": article.url,
        "original_url": article.original_url,
        "title": article.title,
        "text": article.text,
        "full_text": article.full_text,
        "outlet_id": outlets[_outlet_name(article)],
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "content_hash": article.content_hash,
        "language": article.language,
        "source": article.source,
        "origins": list(dict.fromkeys(article.origins)),
        "copy_of_id": article.copy_of,
    }


def _inserted(article: Article, article_id: int) -> Article:
    return Article(
        url=article.url,
        title=article.title,
        text=article.text,
        outlet=_outlet_name(article),
        published_at=article.published_at,
        fetched_at=article.fetched_at,
        full_text=article.full_text,
        language=article.language,
        original_url=article.original_url,
        source=article.source,
        origins=tuple(dict.fromkeys(article.origins)),
        content_hash=article.content_hash,
        copy_of=article.copy_of,
        id=article_id,
    )


# ---------------------------------------------------------------------- rows <-> domain


def _host(url: str) -> str | None:
    host = urlsplit(url).hostname
    if not host:
        return None
    return host.removeprefix("www.")


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


def _stories(session: Session, rows: Sequence[StoryRow]) -> list[Story]:
    """Domain stories for ``rows`` with their article ids, ordered by article time."""
    members: dict[str, list[int]] = {row.id: [] for row in rows}
    for chunk in chunks(list(members)):
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
