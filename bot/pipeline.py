"""The story pipeline: normalise -> deduplicate -> store -> cluster, then select and brief.

``Ingestor`` holds the long-lived indices (near-duplicate index, story index) seeded from
the store's recent window, so the cost of adding an article does not depend on how much the
store holds. It writes a batch of articles per transaction (``ArticleStore.ingest_batch``):
the articles go in, its plan decides copies and stories from their stored ids, and all of it
commits together or not at all. Batches of every process take turns (the store locks), and each
batch first catches up with what other processes stored since (by article id), so a
long-running bot and a cron ``briefbot ingest`` agree on stories without a restart, and
concurrent ingests cluster as a sequential one would.

The ingestor is not thread-safe: one ingest at a time (the service holds a lock around it).
Its methods are synchronous CPU and store work, meant for a worker thread.

``select_stories`` and ``brief_stories`` turn the stored stories into a ``Briefing``: the
stories of one briefing are briefed concurrently, at most ``concurrency`` at once.

Per-article failures (a row that cannot be written) become ``SourceError`` entries; nothing
already stored is lost and the rest of the batch carries on.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain import (
    Article,
    BatchPlan,
    Briefing,
    BriefingMode,
    Channel,
    SavedArticle,
    SourceError,
    Story,
    StoryBriefing,
    Topic,
    utcnow,
)
from bot.errors import ConfigError, StoreError
from bot.stories.canonical import canonical_url
from bot.stories.cluster import StoryIndex
from bot.stories.dedupe import DuplicateIndex
from bot.stories.normalize import normalize
from bot.summarize.ports import StoryBriefer
from bot.summarize.relevance import Query, relevance

log = logging.getLogger(__name__)

# How far below the highest article id seen a catch-up looks again. Ingest batches take
# turns (the store's lock), so their ids commit in order; the margin covers writes outside a
# batch (``save_article``), whose PostgreSQL ids may commit below one already seen.
CATCH_UP_LOOKBACK = 1_000


class StoreReader(Protocol):
    """Reads of what the store holds: of the store itself, or inside a batch's transaction."""

    def get_articles(self, ids: Sequence[int]) -> list[Article]: ...

    def memberships_after(self, article_id: int) -> list[tuple[int, str | None]]: ...


class ArticleStore(StoreReader, Protocol):
    """What the pipeline needs of the store (``bot.store.articles.ArticleRepository``)."""

    def ingest_batch(
        self,
        articles: Sequence[Article],
        plan: Callable[[list[SavedArticle]], BatchPlan],
        *,
        catch_up: Callable[[StoreReader], None] | None = None,
    ) -> list[Article]: ...

    def stories_updated_since(self, since: datetime) -> list[Story]: ...

    def stories_with_articles(self, story_ids: Sequence[str]) -> dict[str, list[Article]]: ...

    def max_article_id(self) -> int: ...


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    new_articles: list[Article] = field(default_factory=list)
    updated_articles: list[Article] = field(default_factory=list)
    copies: int = 0
    new_stories: list[str] = field(default_factory=list)
    touched_stories: set[str] = field(default_factory=set)
    errors: list[SourceError] = field(default_factory=list)

    def extend(self, other: IngestReport) -> None:
        self.new_articles.extend(other.new_articles)
        self.updated_articles.extend(other.updated_articles)
        self.copies += other.copies
        self.new_stories.extend(other.new_stories)
        self.touched_stories |= other.touched_stories
        self.errors.extend(other.errors)


class _Indices:
    """The duplicate and story indices and the newest article id they reflect."""

    def __init__(self, window: timedelta) -> None:
        self.duplicates = DuplicateIndex(window=window)
        self.stories = StoryIndex(window=window)
        self.high = 0  # the highest article id a catch-up has seen
        self.seen: set[int] = set()  # ids above ``high - CATCH_UP_LOOKBACK`` already indexed


class Ingestor:
    """Ingests articles into one store; see the module docstring."""

    def __init__(
        self,
        articles: ArticleStore,
        *,
        window: timedelta,
        batch_size: int = 500,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.articles = articles
        self.window = window
        self.batch_size = batch_size
        self.clock = clock
        self._indices: _Indices | None = None

    # ------------------------------------------------------------------ indices
    def _seed(self) -> _Indices:
        indices = _Indices(self.window)
        indices.high = self.articles.max_article_id()  # before the reads: nothing slips by
        since = self.clock() - self.window
        stories = self.articles.stories_updated_since(since)
        members = self.articles.stories_with_articles([s.id for s in stories])
        seeded: list[Article] = []
        for story in stories:
            indices.stories.seed(story.id, members[story.id])
            seeded.extend(members[story.id])
        for article in sorted(seeded, key=lambda a: (a.when, a.id or 0)):
            if article.id is not None and article.copy_of is None and article.when >= since:
                indices.duplicates.add(article.id, article.text, article.when)
        return indices

    def _catch_up(self, indices: _Indices, reader: StoreReader) -> None:
        """Index what other processes stored since the last look (``reader`` reads inside
        the batch's transaction, where nothing can be committed between the look and ours)."""
        floor = max(indices.high - CATCH_UP_LOOKBACK, 0)
        pairs = reader.memberships_after(floor)
        if not pairs:
            return
        indices.high = max(indices.high, max(article_id for article_id, _ in pairs))
        indices.seen = {i for i in indices.seen if i > indices.high - CATCH_UP_LOOKBACK}
        # Articles not yet in a story are another writer's work in progress (or a crashed
        # run's, which the next ingest of that article heals): they are looked at again.
        unknown = {
            article_id: story_id
            for article_id, story_id in pairs
            if story_id is not None and article_id not in indices.seen
        }
        if not unknown:
            return
        found = reader.get_articles(sorted(unknown))
        log.info("catching up with %d article(s) another process stored", len(found))
        since = self.clock() - self.window  # what a seed would hold, and no more
        for article in sorted(found, key=lambda a: (a.when, a.url)):
            assert article.id is not None
            indices.seen.add(article.id)
            if article.when < since:
                continue
            if indices.stories.story_of(article.id) is None:
                indices.stories.seed(unknown[article.id], [article])
            if article.copy_of is None:
                indices.duplicates.add(article.id, article.text, article.when)

    # ------------------------------------------------------------------ ingest
    def ingest(self, articles: Sequence[Article]) -> IngestReport:
        """Normalise, deduplicate, store and cluster articles (oldest first, deterministic),
        ``batch_size`` per transaction. A batch that cannot be written is tried again one
        article at a time, so one bad article costs only itself."""
        report = IngestReport()
        # Sorted as normalised, normalised a batch at a time: the text analysis a batch's
        # hashing computes is still cached when its duplicates are looked up.
        ordered = sorted(articles, key=normalized_order)
        for start in range(0, len(ordered), self.batch_size):
            batch = [normalize(a) for a in ordered[start : start + self.batch_size]]
            try:
                report.extend(self._write(batch))
                continue
            except ConfigError:
                raise  # the store cannot be written at all: no article would fare better
            except StoreError as exc:
                if len(batch) == 1:
                    report.errors.append(self._failed(batch[0], exc))
                    continue
                log.warning("a batch of %d articles failed (%s); one at a time", len(batch), exc)
            for article in batch:
                try:
                    report.extend(self._write([article]))
                except StoreError as exc:
                    report.errors.append(self._failed(article, exc))
        return report

    def _failed(self, article: Article, exc: StoreError) -> SourceError:
        log.error("could not store %s: %s", article.url, exc)
        return SourceError(article.url, f"could not store article: {exc}")

    def _write(self, batch: Sequence[Article]) -> IngestReport:
        if self._indices is None:  # first use, or after a failed write: from the store
            self._indices = self._seed()
        indices = self._indices
        report = IngestReport()
        try:
            self.articles.ingest_batch(
                batch,
                lambda saved: self._plan(indices, saved, report),
                catch_up=lambda reader: self._catch_up(indices, reader),
            )
        except BaseException:
            # The plan may have indexed articles the rollback dropped: reseed next time.
            self._indices = None
            raise
        return report

    def _plan(
        self, indices: _Indices, saved: list[SavedArticle], report: IngestReport
    ) -> BatchPlan:
        plan = BatchPlan()
        decided: dict[int, int] = {}  # copies decided in this batch: id -> original
        duplicates, stories = indices.duplicates, indices.stories
        for item in saved:
            article = item.article
            assert article.id is not None
            indices.seen.add(article.id)
            if item.new:
                if article.copy_of is None:
                    if item.twin is not None:
                        twin_id, twin_copy = item.twin
                        article.copy_of = decided.get(twin_id, twin_copy) or twin_id
                    else:
                        match = duplicates.find(article.text)
                        if match is not None:
                            article.copy_of = match.key
                    if article.copy_of is not None:
                        plan.copies[article.id] = decided[article.id] = article.copy_of
                if article.copy_of is None:
                    duplicates.add(article.id, article.text, article.when)
                else:
                    report.copies += 1
                report.new_articles.append(article)
            else:
                report.updated_articles.append(article)
            if item.story_id is not None or stories.story_of(article.id) is not None:
                continue  # already in a story (before this batch, or earlier in it)
            assignment = stories.assign(article)
            if assignment.created:
                plan.new_stories.append(
                    Story(
                        assignment.story_id,
                        article.title,
                        created_at=article.when,
                        updated_at=article.when,
                    )
                )
                report.new_stories.append(assignment.story_id)
            plan.members.append((assignment.story_id, article.id))
            report.touched_stories.add(assignment.story_id)
        return plan


def normalized_order(article: Article) -> tuple[datetime, str]:
    """Where ``normalize(article)`` goes in an ingest: by time (a zone-less time is UTC),
    then canonical URL."""
    when = article.published_at or article.fetched_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when, canonical_url(article.original_url or article.url)


# ---------------------------------------------------------------------- brief


def select_stories(
    articles: ArticleStore,
    topic: Topic,
    since: timedelta,
    *,
    now: datetime,
    limit: int,
) -> list[tuple[Story, list[Article]]]:
    """Stories about the topic with articles in the window, most relevant and recent first."""
    start = now - since
    try:
        query = Query.parse(topic.effective_query)
    except ValueError as exc:
        raise ConfigError(
            f"topic {topic.name!r} has no searchable words in its query "
            f"{topic.effective_query!r} ({exc}); give it a query with "
            "briefbot topics add NAME --query WORDS"
        ) from None
    stories = articles.stories_updated_since(start)
    members = articles.stories_with_articles([story.id for story in stories])
    scored: list[tuple[float, datetime, str, Story, list[Article]]] = []
    for story in stories:
        recent = [a for a in members[story.id] if a.when >= start]
        if not recent:
            continue
        score = relevance(query, recent)
        if score <= 0:
            continue
        age_hours = max((now - story.updated_at).total_seconds() / 3600.0, 0.0)
        ranked = score * math.exp(-age_hours / 72.0)
        scored.append((ranked, story.updated_at, story.id, story, recent))
    scored.sort(key=lambda item: (-item[0], -item[1].timestamp(), item[2]))
    return [(story, recent) for _, _, _, story, recent in scored[:limit]]


async def brief_stories(
    briefer: StoryBriefer,
    topic: Topic,
    selected: Sequence[tuple[Story, list[Article]]],
    channel: Channel,
    *,
    concurrency: int,
    generated_at: datetime,
    errors: Sequence[SourceError] = (),
) -> Briefing:
    """Brief each selected story for ``channel``, at most ``concurrency`` at once, in the
    selection's order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(story: Story, articles: list[Article]) -> StoryBriefing:
        async with gate:
            return await briefer.brief_story(story, articles, channel)

    story_briefings = list(await asyncio.gather(*(one(s, a) for s, a in selected)))
    # A briefing is "llm" when the model wrote any of its stories (others may have fallen
    # back to the extractive briefer); with no stories, the briefer's mode.
    written = {story.mode for story in story_briefings}
    mode = (
        BriefingMode.LLM
        if BriefingMode.LLM in written
        else (BriefingMode.EXTRACTIVE if written else briefer.mode)
    )
    return Briefing(
        topic=topic.name,
        generated_at=generated_at,
        mode=mode,
        stories=story_briefings,
        errors=list(errors),
    )


def shift_articles(articles: Sequence[Article], newest: datetime) -> list[Article]:
    """Move a fixed data set in time so its newest article is at ``newest`` (for the demo)."""
    dated = [a.published_at for a in articles if a.published_at is not None]
    if not dated:
        return list(articles)
    delta = newest - max(dated)
    return [
        replace(a, published_at=a.published_at + delta if a.published_at else None)
        for a in articles
    ]
