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
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from bot.redact import redact

# ``progress(source, done, total)``: called as each source of a gather finishes.
Progress = Callable[[str, int, int], None]

# Key points per story briefing unless ``BRIEFBOT_MAX_POINTS`` says otherwise.
MAX_POINTS = 6


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind used here)."""
    return datetime.now(UTC)


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day: the daily token budgets reset then."""
    return datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)


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
    """A per-source failure reported alongside a briefing (``errors`` in JSON).

    Both fields are redacted when it is made (``bot.redact``): a feed URL's userinfo or a
    token in a server's message never reaches a reader, a log or the store."""

    source: str
    error: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", redact(self.source))
        object.__setattr__(self, "error", redact(self.error))


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


class StoryStatus(enum.StrEnum):
    """Where a story of a digest stands for the channel it goes to."""

    NEW = "new"  # the channel was never briefed on it
    UPDATED = "updated"  # it has key points the channel's last briefing of it had not
    SEEN = "seen"  # nothing new since the channel's last briefing: one line at most


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
    # In a digest or a live update: NEW, UPDATED (``whats_new`` lists the points this
    # channel has not seen, first) or SEEN. ``None`` in a briefing asked for.
    status: StoryStatus | None = None


@dataclass(frozen=True, slots=True)
class DigestInfo:
    """What makes a briefing a scheduled delivery: a digest slot, or a live update."""

    kind: str  # DeliveryKind: "digest" or "update"
    slot_at: datetime  # when it was due
    schedule: str = ""  # the subscription's schedule, e.g. "mon-fri 08:00"
    timezone: str = "UTC"
    late: bool = False  # delivered after its slot (missed during a restart or an outage)
    since: datetime | None = None  # the channel's previous briefing of the topic, if any


@dataclass(slots=True)
class Briefing:
    """A briefing on a topic: the stories about it plus per-source errors."""

    topic: str
    generated_at: datetime
    mode: BriefingMode
    stories: list[StoryBriefing]
    errors: list[SourceError] = field(default_factory=list)
    saved_ids: list[int] = field(default_factory=list)  # store ids per story, once saved
    digest: DigestInfo | None = None  # set for a scheduled digest or a live update

    @property
    def nothing_new(self) -> bool:
        """True for a digest none of whose stories is new or updated for its channel."""
        return all(story.status is StoryStatus.SEEN for story in self.stories)


class Platform(enum.StrEnum):
    CONSOLE = "console"
    SLACK = "slack"
    DISCORD = "discord"


@dataclass(slots=True)
class Channel:
    """A place briefings are posted to: a Slack or Discord channel, or the terminal.

    ``workspace`` is the Slack team or Discord guild id (empty for the terminal).
    """

    platform: Platform
    external_id: str
    name: str = ""
    workspace: str = ""
    id: int | None = None

    @property
    def label(self) -> str:
        """How reports name the channel: ``terminal``, ``slack:newsroom``, ..."""
        if self.platform is Platform.CONSOLE:
            return self.name or self.external_id
        return f"{self.platform}:{self.name or self.external_id}"


def terminal() -> Channel:
    """The terminal, a channel of its own: its briefings, budget and memory."""
    return Channel(Platform.CONSOLE, "terminal", "terminal")


def topic_key(name: str) -> str:
    """The one normal form of a topic name, used everywhere a topic is looked up or stored:
    surrounding space dropped, inner runs of space made one, case folded."""
    return " ".join(name.split()).casefold()


@dataclass(slots=True)
class Topic:
    """A tracked topic: its name (in ``topic_key`` form), search query and sources."""

    name: str
    query: str = ""
    sources: list[str] = field(default_factory=list)
    discovery: bool = False
    # The sources among ``sources`` that were added from chat, not by the operator: they
    # are fetched only from public addresses (see ``bot.sources.safety``).
    chat_sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = topic_key(self.name)

    @property
    def effective_query(self) -> str:
        return self.query or self.name


@dataclass(slots=True)
class Subscription:
    """A channel's standing order for a topic's digest on ``schedule`` in ``timezone``."""

    channel: Channel
    topic: str
    schedule: str
    timezone: str
    created_by: str
    created_at: datetime
    id: int | None = None
    nothing_new: str = "line"  # NOTHING_NEW: what a digest with nothing new does
    updates: str = "off"  # UPDATES: "live" posts material developments into story threads


NOTHING_NEW = ("line", "silent")  # post one line / post nothing
UPDATES = ("off", "live")


class DeliveryState(enum.StrEnum):
    CLAIMED = "claimed"  # someone is delivering it (or crashed while doing so)
    COMPLETED = "completed"  # posted, with the message id
    SKIPPED = "skipped"  # nothing to post (a silent digest with nothing new)
    FAILED = "failed"  # given up: the platform refused, or the grace period ended


class DeliveryKind(enum.StrEnum):
    DIGEST = "digest"
    UPDATE = "update"


@dataclass(slots=True)
class Delivery:
    """One digest slot or live update of a subscription, claimed before it is posted.

    ``slot_key`` names it uniquely within the subscription (``digest:2026-12-01T07:00Z``,
    ``update:<story>:<hash>``); the platform finds an earlier post of it by the same key.
    """

    subscription_id: int
    kind: DeliveryKind
    slot_key: str
    slot_at: datetime
    state: DeliveryState
    owner: str
    claimed_at: datetime
    attempts: int = 0
    late: bool = False
    completed_at: datetime | None = None
    message_id: str | None = None
    thread_id: str | None = None
    story_id: str | None = None
    error: str | None = None
    briefing_ids: list[int] = field(default_factory=list)
    story_ids: list[str] = field(default_factory=list)
    id: int | None = None


@dataclass(slots=True)
class SourceHealth:
    """How polling one source goes (``source`` redacted of credentials)."""

    source: str
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None
    last_articles: int = 0


@dataclass(slots=True)
class PostedMessage:
    """A briefing as posted to a chat channel: where it went and what it covered.

    ``message_id`` is the platform's id of the message (Slack ``ts``, Discord snowflake);
    ``thread_id`` the thread it started or was posted in, if any. ``briefing_ids`` are the
    saved story briefings it carried and ``story_ids`` their stories.
    """

    channel: Channel
    message_id: str
    briefing_ids: list[int]
    story_ids: list[str]
    posted_at: datetime
    thread_id: str | None = None
    id: int | None = None
    topic: str | None = None  # the topic an ``ask`` answer answered (its briefings say it)


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


@dataclass(slots=True)
class SavedArticle:
    """An article of a batch as stored, for the caller's plan.

    ``new`` is False when it merged into an article stored before; ``story_id`` is the story
    it was already in (``None``: in none yet); ``twin`` is the ``(id, copy_of)`` of the
    earliest other stored article with the same text hash, if any.
    """

    article: Article
    new: bool
    story_id: str | None = None
    twin: tuple[int, int | None] | None = None


@dataclass(slots=True)
class BatchPlan:
    """What the caller decided about a stored batch: ``copies`` (article id -> the id of the
    article it copies), ``new_stories`` and ``members`` ((story id, article id) pairs)."""

    copies: dict[int, int] = field(default_factory=dict)
    new_stories: list[Story] = field(default_factory=list)
    members: list[tuple[str, int]] = field(default_factory=list)
