"""The briefing pipeline: gather -> normalise -> deduplicate -> store -> cluster -> brief.

``Pipeline`` holds the long-lived indices (near-duplicate index, story index)
seeded from the store's recent window, so the cost of adding an article does
not depend on how much the store holds. Every entry point (CLI command,
Slack/Discord handler, scheduled digest) calls ``ingest`` and ``brief``.

Per-article failures (a row that cannot be written) become ``SourceError``
entries; nothing already stored is lost and the rest of the batch carries on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.config import Settings, Topic
from bot.domain import Article, Briefing, BriefingMode, SourceError, Story, StoryBriefing, utcnow
from bot.errors import ConfigError, StoreError
from bot.sources.gather import FeedStateStore, GatherResult, discover, gather
from bot.store.repository import Repository
from bot.stories.cluster import StoryIndex
from bot.stories.dedupe import DuplicateIndex
from bot.stories.normalize import normalize
from bot.summarize.relevance import Query, relevance

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class StoryBriefer(Protocol):
    """Turns one story into a briefing (extractive or LLM)."""

    mode: BriefingMode

    def brief_story(self, story: Story, articles: Sequence[Article]) -> StoryBriefing: ...


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    new_articles: list[Article] = field(default_factory=list)
    updated_articles: list[Article] = field(default_factory=list)
    copies: int = 0
    new_stories: list[str] = field(default_factory=list)
    touched_stories: set[str] = field(default_factory=set)
    errors: list[SourceError] = field(default_factory=list)


class DeferredFeedState:
    """Conditional-GET memory whose new validators are kept back until the articles they
    cover are stored: were ingest to fail, the next run must not get a 304 and skip them."""

    def __init__(self, backing: FeedStateStore) -> None:
        self.backing = backing
        self.pending: dict[str, tuple[str | None, str | None]] = {}

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        return self.backing.get(url)

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self.pending[url] = (etag, last_modified)

    def flush(self) -> None:
        for url, (etag, last_modified) in self.pending.items():
            self.backing.set(url, etag, last_modified)
        self.pending.clear()


class Pipeline:
    """Runs ingestion and briefing against one store."""

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        briefer: StoryBriefer,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.briefer = briefer
        self.clock = clock
        self._duplicates: DuplicateIndex | None = None
        self._stories: StoryIndex | None = None
        self._feed_state = DeferredFeedState(repo.feed_state())

    # ------------------------------------------------------------------ indices
    @property
    def window(self) -> timedelta:
        return timedelta(days=self.settings.story_window_days)

    def _indices(self) -> tuple[DuplicateIndex, StoryIndex]:
        """Seed the indices from the store's recent window once per pipeline."""
        if self._duplicates is None or self._stories is None:
            since = self.clock() - self.window
            duplicates = DuplicateIndex(window=self.window)
            for article in self.repo.recent_articles(since):
                if article.id is not None and article.copy_of is None:
                    duplicates.add(article.id, article.text, article.when)
            stories = StoryIndex(window=self.window)
            for story in self.repo.stories_updated_since(since):
                stories.seed(story.id, self.repo.story_articles(story.id))
            self._duplicates, self._stories = duplicates, stories
        return self._duplicates, self._stories

    # ------------------------------------------------------------------ ingest
    async def gather(
        self,
        specs: Sequence[str],
        *,
        discovery_query: str | None = None,
        progress: Progress | None = None,
    ) -> GatherResult:
        """Fetch the given sources (and discovery results when a query is given)."""
        result = GatherResult(articles=[], errors=[])
        if specs:
            got = await gather(specs, self.settings, feed_state=self._feed_state, progress=progress)
            result.articles.extend(got.articles)
            result.errors.extend(got.errors)
        if discovery_query and self.settings.discovery:
            got = await discover(discovery_query, self.settings, progress=progress)
            result.articles.extend(got.articles)
            result.errors.extend(got.errors)
        return result

    def ingest_articles(self, articles: Sequence[Article]) -> IngestReport:
        """Normalise, deduplicate, store and cluster articles (oldest first, deterministic).

        Feed validators from the preceding ``gather`` are remembered only when every
        article was stored, so a failed run is fetched in full next time."""
        report = IngestReport()
        duplicates, stories = self._indices()
        ordered = sorted((normalize(a) for a in articles), key=lambda a: (a.when, a.url))
        for article in ordered:
            try:
                self._ingest_one(article, duplicates, stories, report)
            except StoreError as exc:
                log.error("could not store %s: %s", article.url, exc)
                report.errors.append(SourceError(article.url, f"could not store article: {exc}"))
        if not report.errors:
            self._feed_state.flush()
        return report

    def _ingest_one(
        self,
        article: Article,
        duplicates: DuplicateIndex,
        stories: StoryIndex,
        report: IngestReport,
    ) -> None:
        existing = self.repo.find_by_url(article.url)
        if existing is None and article.copy_of is None:
            same_text = self.repo.find_by_hash(article.content_hash)
            if same_text is not None:
                article.copy_of = same_text.copy_of or same_text.id
            else:
                match = duplicates.find(article.text)
                if match is not None:
                    article.copy_of = match.key
        saved = self.repo.save_article(article)
        assert saved.id is not None
        if existing is not None:
            report.updated_articles.append(saved)
        else:
            report.new_articles.append(saved)
            if saved.copy_of is not None:
                report.copies += 1
            else:
                duplicates.add(saved.id, saved.text, saved.when)
        if self.repo.story_of_article(saved.id) is not None:
            return
        assignment = stories.assign(saved)
        if assignment.created:
            self.repo.create_story(
                Story(
                    assignment.story_id, saved.title, created_at=saved.when, updated_at=saved.when
                )
            )
            report.new_stories.append(assignment.story_id)
        self.repo.add_story_article(assignment.story_id, saved.id, self.clock())
        report.touched_stories.add(assignment.story_id)

    # ------------------------------------------------------------------ brief
    def select_stories(self, topic: Topic, since: timedelta) -> list[tuple[Story, list[Article]]]:
        """Stories about the topic with articles in the window, most relevant and recent first."""
        now = self.clock()
        start = now - since
        try:
            query = Query.parse(topic.effective_query)
        except ValueError as exc:
            raise ConfigError(
                f"topic {topic.name!r} has no searchable words in its query "
                f"{topic.effective_query!r} ({exc}); give it a query with "
                "briefbot topics add NAME --query WORDS"
            ) from None
        scored: list[tuple[float, datetime, str, Story, list[Article]]] = []
        for story in self.repo.stories_updated_since(start):
            articles = [a for a in self.repo.story_articles(story.id) if a.when >= start]
            if not articles:
                continue
            score = relevance(query, articles)
            if score <= 0:
                continue
            age_hours = max((now - story.updated_at).total_seconds() / 3600.0, 0.0)
            ranked = score * math.exp(-age_hours / 72.0)
            scored.append((ranked, story.updated_at, story.id, story, articles))
        scored.sort(key=lambda item: (-item[0], -item[1].timestamp(), item[2]))
        return [
            (story, articles) for _, _, _, story, articles in scored[: self.settings.max_stories]
        ]

    def brief(
        self,
        topic: Topic,
        *,
        since: timedelta,
        errors: Sequence[SourceError] = (),
    ) -> Briefing:
        """Brief the topic from what the store holds (run ``ingest_articles`` first)."""
        story_briefings = [
            self.briefer.brief_story(story, articles)
            for story, articles in self.select_stories(topic, since)
        ]
        # A briefing is "llm" when the model wrote any of its stories (others may have
        # fallen back to the extractive briefer); with no stories, the briefer's mode.
        written = {story.mode for story in story_briefings}
        mode = (
            BriefingMode.LLM
            if BriefingMode.LLM in written
            else (BriefingMode.EXTRACTIVE if written else self.briefer.mode)
        )
        return Briefing(
            topic=topic.name,
            generated_at=self.clock(),
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
