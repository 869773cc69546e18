"""Plain domain objects shared by every layer.

Nothing here does I/O or imports a platform SDK. The store maps these to rows,
the sources produce ``Article`` objects, the story layer groups them into
``Story`` objects, the summarizers turn a story into a ``StoryBriefing`` and the
renderers turn a ``Briefing`` into text, Markdown or JSON.

Identifiers:
- ``Article.id`` is the store's integer id (``None`` until stored).
- ``Story.id`` is a stable string (``"s-" + 12 hex digits``) assigned when the
  story is created and never changed afterwards.
- Inside a ``StoryBriefing`` sources are numbered ``1..n`` (``SourceRef.id``);
  key points cite those numbers, not store ids, so a briefing is
  self-contained.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind used here)."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Article:
    """One news article as gathered from a source.

    ``url`` is the canonical URL (tracking parameters stripped, see
    ``bot.stories.canonical``); ``original_url`` is what the source gave.
    ``full_text`` is True when ``text`` is the whole article and False when it
    is only a feed teaser (the page could not be fetched or extracted).
    ``origins`` lists wire services credited in the text ("Reuters", "AP").
    ``copy_of`` is the store id of the article this one is a wire or
    syndicated copy of (exact or near duplicate), if any.
    """

    url: str
    title: str
    text: str
    outlet: str
    published_at: datetime | None = None
    fetched_at: datetime = field(default_factory=utcnow)
    full_text: bool = True
    language: str | None = None
    original_url: str | None = None
    source: str = ""
    origins: tuple[str, ...] = ()
    content_hash: str = ""
    copy_of: int | None = None
    id: int | None = None

    @property
    def when(self) -> datetime:
        """Best known time of the article: published, else fetched."""
        return self.published_at or self.fetched_at


@dataclass(slots=True)
class Outlet:
    """A publisher, identified by its display name and (when known) its host."""

    name: str
    domain: str | None = None
    id: int | None = None


@dataclass(slots=True)
class Story:
    """A developing story: articles about one event, persisting across days."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    article_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceError:
    """A per-source failure reported alongside a briefing (``errors`` in JSON)."""

    source: str
    error: str


@dataclass(slots=True)
class SourceRef:
    """A source as listed in one story's briefing; ``id`` is 1-based within the story."""

    id: int
    outlet: str
    title: str
    url: str
    published_at: datetime | None
    full_text: bool
    origins: tuple[str, ...] = ()
    copy_of: int | None = None  # SourceRef.id of the source this one copies
    article_id: int | None = None  # store id, for persistence; not rendered


@dataclass(slots=True)
class KeyPoint:
    """One key point of a briefing and the sources (``SourceRef.id``) that report it."""

    text: str
    sources: list[int]


@dataclass(frozen=True, slots=True)
class Coverage:
    """How widely a story is reported."""

    articles: int
    outlets: int
    independent_reports: int


class BriefingMode(enum.StrEnum):
    EXTRACTIVE = "extractive"
    LLM = "llm"


@dataclass(slots=True)
class Verification:
    """What citation verification changed in one story briefing.

    ``checked`` counts (key point, cited source) pairs checked against the source text;
    ``removed`` lists citations dropped as unsupported, ``added`` citations found by
    alignment that the writer had not given, ``dropped`` key points left with no support.
    """

    checked: int = 0
    removed: list[tuple[str, int]] = field(default_factory=list)  # (point text, source id)
    added: list[tuple[str, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens spent on one story briefing (from the API's ``usage``), their estimated cost and
    the model that wrote it.

    ``cost_usd`` is ``None`` when the model's price is unknown (a local model not in the price
    table, with no price set). ``model`` is the name the server reported (else the configured
    one); for a reused briefing, the model that wrote it, if known.
    """

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cached: bool = False  # True when the briefing was reused and cost nothing this time
    model: str | None = None


@dataclass(slots=True)
class StoryBriefing:
    """The briefing of one story."""

    story_id: str
    title: str
    updated_at: datetime
    key_points: list[KeyPoint]
    sources: list[SourceRef]
    coverage: Coverage
    summary: str | None = None
    notes: list[str] = field(default_factory=list)  # visible remarks (fallbacks, budget)
    mode: BriefingMode = BriefingMode.EXTRACTIVE
    disagreements: list[KeyPoint] = field(default_factory=list)  # "where sources differ"
    whats_new: list[KeyPoint] = field(default_factory=list)  # since the previous briefing
    verification: Verification | None = None
    usage: TokenUsage | None = None


@dataclass(slots=True)
class Briefing:
    """A briefing on a topic: the stories about it plus per-source errors."""

    topic: str
    generated_at: datetime
    mode: BriefingMode
    stories: list[StoryBriefing]
    errors: list[SourceError] = field(default_factory=list)


class Platform(enum.StrEnum):
    CONSOLE = "console"
    SLACK = "slack"
    DISCORD = "discord"


@dataclass(slots=True)
class Channel:
    """A place briefings are posted to (a Slack or Discord channel, or the terminal)."""

    platform: Platform
    external_id: str
    name: str = ""
    id: int | None = None
