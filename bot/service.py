"""The service: every use case of briefbot, once, for every entry point.

The CLI, the chat adapters and the scheduler all call ``BriefingService``; none of them
gathers, ingests, briefs or saves anything itself. Every request names its channel (the
terminal is one), so budgets, "what changed since this channel's last briefing" and usage
work the same everywhere.

One service serves many requests at once in one event loop:

- network I/O is async (feeds, pages, the model);
- store work and CPU work (normalising, duplicate detection, clustering, briefing,
  verification) run in worker threads, never on the loop;
- ingests take turns (``_ingest_lock``): the duplicate and story indices have one writer;
- concurrent briefings of the same sources share one gather (``_gather_locks``), and a
  source gathered less than ``max_age`` ago is not gathered again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from weakref import WeakValueDictionary

from bot.config import (
    MAX_DURATION,
    Settings,
    check_zone,
    load_topics,
    parse_duration,
    save_topics,
)
from bot.domain import (
    NOTHING_NEW,
    UPDATES,
    Article,
    Briefing,
    Channel,
    DeliveryKind,
    DigestInfo,
    PostedMessage,
    Progress,
    SourceError,
    Story,
    StoryBriefing,
    StoryStatus,
    Subscription,
    Topic,
    topic_key,
    utcnow,
)
from bot.errors import InvalidRequest
from bot.pipeline import Ingestor, IngestReport, brief_stories, select_stories
from bot.qa import MAX_QUESTION_CHARS, Answer, QAEngine, Refusal, Turn
from bot.redact import redact
from bot.sources.gather import GatherResult, discover, gather
from bot.sources.safety import CHAT_RULE
from bot.store import Store
from bot.store.topics import ADDED, REMOVED, SourceChange
from bot.summarize.changes import compare, order_by_status
from bot.summarize.developments import material_points
from bot.summarize.ports import StoryBriefer
from bot.usage import GroupBy, UsageReport, records_since, summarize_usage

log = logging.getLogger(__name__)

_DIGEST_CACHE = 256  # topic briefings of digest slots kept for the channels due then
_DISCOVERY = "discovery:"  # the feed-state key of a discovery query's last gather
MEMORY_TURNS = 6  # a thread's earlier turns handed to the Q&A engine as its history

# "What's the latest?": a question that starts with one of these phrasings (case, a
# curly apostrophe and the closing punctuation aside) gathers the topic's sources first and
# is answered with ``since`` = the thread's last briefing, so the answer says what is new.
LATEST_PHRASINGS = (
    "what's the latest",
    "what is the latest",
    "whats the latest",
    "what's new",
    "what is new",
    "whats new",
    "anything new",
    "is there anything new",
    "any news",
    "any updates",
    "any update",
    "what's changed",
    "what has changed",
    "what changed",
    "latest",
    "updates",
)
_LATEST_CLEAN = re.compile(r"[?!.…\s]+$")


@dataclass(slots=True)
class IngestResult:
    """What an ingest gathered and stored, and every per-source or per-article error."""

    report: IngestReport
    errors: list[SourceError]
    gathered: int = 0  # articles the sources yielded, stored or not


class _DeferredFeedState:
    """Conditional-GET validators for one gather, read ahead of it (no store read on the
    event loop) and kept back until the articles they cover are stored: were the ingest to
    fail, the next run must not get a 304 and skip them."""

    def __init__(self, known: dict[str, tuple[str | None, str | None]]) -> None:
        self.known = known
        self.pending: dict[str, tuple[str | None, str | None]] = {}

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        return self.known.get(url)

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self.pending[url] = (etag, last_modified)


class BriefingService:
    """Briefings, ingests, topics, subscriptions and usage over one store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        briefer: StoryBriefer,
        *,
        qa: QAEngine,
        clock: Callable[[], datetime] = utcnow,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.briefer = briefer
        self.qa = qa
        self.clock = clock
        self.ingestor = Ingestor(
            store.articles,
            window=timedelta(days=settings.story_window_days),
            batch_size=settings.ingest_batch_size,
            clock=clock,
        )
        self._ingest_lock = asyncio.Lock()
        # One lock per set of sources while someone gathers them (dropped when unused).
        self._gather_locks: WeakValueDictionary[tuple[str, ...], asyncio.Lock] = (
            WeakValueDictionary()
        )
        self._topics_lock = asyncio.Lock()
        # Called after this process subscribes or unsubscribes a channel: the scheduler
        # rebuilds its jobs at once (other processes' changes it re-reads periodically).
        self.subscription_listeners: list[Callable[[], object]] = []
        # The topic briefings of recent digest slots, shared by every channel due then.
        self._digests: dict[tuple[str, datetime], asyncio.Future[Briefing]] = {}
        self._on_close = on_close

    async def aclose(self) -> None:
        """Close the model client (if any) and the store's connections."""
        if self._on_close is not None:
            result = self._on_close()
            if asyncio.iscoroutine(result):
                await result
        await asyncio.to_thread(self.store.close)

    async def __aenter__(self) -> BriefingService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ briefings
    async def brief(
        self,
        topic: str | Topic,
        channel: Channel,
        *,
        sources: Sequence[str] = (),
        since: timedelta | None = None,
        discovery: bool | None = None,
        max_age: timedelta | None = None,
        refresh: bool = True,
        progress: Progress | None = None,
        errors: Sequence[SourceError] = (),
        shared: bool = False,
    ) -> Briefing:
        """Brief ``topic`` for ``channel`` and save it with the channel (``shared``: saved
        with no channel, for every channel whose digest carries it; ``channel`` still pays
        for the model).

        With ``refresh``, the topic's sources (and ``sources``) are gathered and ingested
        first when they were last gathered more than ``max_age`` ago (default
        ``BRIEFBOT_GATHER_MAX_AGE``); discovery runs when asked, when the topic asks for it,
        or when it has no source. ``errors`` from an earlier gather are reported with it.
        """
        chosen = topic if isinstance(topic, Topic) else await self.resolve_topic(topic)
        specs = list(dict.fromkeys([*chosen.sources, *sources]))
        use_discovery = discovery if discovery is not None else (chosen.discovery or not specs)
        query = chosen.effective_query if use_discovery and self.settings.discovery else None
        age = max_age if max_age is not None else parse_duration(self.settings.gather_max_age)
        problems = list(errors)
        if refresh:
            problems += await self.refresh(
                specs,
                discovery_query=query,
                max_age=age,
                progress=progress,
                untrusted=chosen.chat_sources,
            )
        window = since if since is not None else parse_duration(self.settings.since)
        now = self.clock()
        selected = await self._select(chosen, window, now)
        briefing = await brief_stories(
            self.briefer,
            chosen,
            selected,
            channel,
            concurrency=self.settings.brief_concurrency,
            generated_at=now,
            errors=problems,
        )
        for story in briefing.stories:  # notes are shown and stored: no credentials in them
            story.notes = [redact(note) for note in story.notes]
        briefing.saved_ids = await asyncio.to_thread(
            self.store.briefings.save, briefing, None if shared else channel
        )
        return briefing

    async def digest(
        self, subscription: Subscription, *, slot_at: datetime, late: bool = False
    ) -> Briefing:
        """The subscription's digest for the slot ``slot_at``: its topic's shared briefing
        (``_topic_digest``) with each story marked against what this channel was last
        shown of it (``bot.summarize.changes``: NEW, UPDATED with the new points first, or
        SEEN), NEW stories first, then UPDATED, then SEEN.

        "What this channel was shown" is the briefing carried by the channel's newest post
        of the story (a digest, a live update or a ``/brief``), not merely one saved for it:
        a digest that was built but never posted (a crash, a platform down) is not counted
        as seen. ``Briefing.digest.since`` is when the newest of those posts went out
        (``None`` when the channel has seen none of these stories); ``Briefing.nothing_new``
        tells a digest with nothing new."""
        channel = subscription.channel
        shared = await self._topic_digest(subscription.topic, slot_at, channel)
        ids = [story.story_id for story in shared.stories]
        seen, since = await asyncio.to_thread(self._shown_to, channel, ids)
        saved = dict(zip(ids, shared.saved_ids, strict=False))
        stories = order_by_status(
            compare(story, seen.get(story.story_id)) for story in shared.stories
        )
        return Briefing(
            topic=shared.topic,
            generated_at=shared.generated_at,
            mode=shared.mode,
            stories=stories,
            errors=list(shared.errors),
            saved_ids=[saved[story.story_id] for story in stories if story.story_id in saved],
            digest=DigestInfo(
                kind=str(DeliveryKind.DIGEST),
                slot_at=slot_at,
                schedule=subscription.schedule,
                timezone=subscription.timezone,
                late=late,
                since=since,
            ),
        )

    async def _topic_digest(self, name: str, slot_at: datetime, channel: Channel) -> Briefing:
        """The topic's briefing for one slot, built once for every channel due then and
        saved once (shared, with no channel): 10,000 subscriptions of one topic in one
        minute cost one gather, one selection and one briefing per story (a model briefing
        of unchanged articles is reused besides). ``channel`` pays for the model, if any."""
        key = (topic_key(name), slot_at)
        task = self._digests.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self.brief(name, channel, shared=True))
            self._digests[key] = task
            while len(self._digests) > _DIGEST_CACHE:
                self._digests.pop(next(iter(self._digests)))
        return await asyncio.shield(task)

    def _shown_to(
        self, channel: Channel, story_ids: Sequence[str]
    ) -> tuple[dict[str, StoryBriefing], datetime | None]:
        """Each story's briefing in the channel's newest post of it, and when the newest of
        those posts went out (store reads, in a worker thread)."""
        posts = self.store.channels.latest_posts_of_stories(channel, story_ids)
        stored = self.store.briefings.by_ids(
            [briefing_id for post in posts.values() for briefing_id in post.briefing_ids]
        )
        seen: dict[str, StoryBriefing] = {}
        for story_id, post in posts.items():
            for briefing_id in post.briefing_ids:
                found = stored.get(briefing_id)
                if found is not None and found.briefing.story_id == story_id:
                    seen[story_id] = found.briefing
                    break
        times = [post.posted_at for story_id, post in posts.items() if story_id in seen]
        return seen, max(times) if times else None

    async def _select(
        self, topic: Topic, window: timedelta, now: datetime
    ) -> list[tuple[Story, list[Article]]]:
        """The topic's stories in the window, most relevant and recent first (at most
        ``BRIEFBOT_MAX_STORIES``)."""
        return await asyncio.to_thread(
            select_stories,
            self.store.articles,
            topic,
            window,
            now=now,
            limit=self.settings.max_stories,
        )

    async def resolve_topic(self, name: str) -> Topic:
        """The tracked topic called ``name`` (in any spelling), or an untracked one."""
        key = topic_key(name)
        if not key:
            raise InvalidRequest("The topic must not be empty; name one, e.g. ukraine.")
        return (await self.topics()).get(key) or Topic(key)

    # ------------------------------------------------------------------ gathering
    async def refresh(
        self,
        specs: Sequence[str],
        *,
        discovery_query: str | None = None,
        max_age: timedelta = timedelta(0),
        progress: Progress | None = None,
        untrusted: Collection[str] = (),
    ) -> list[SourceError]:
        """Gather and ingest the sources (and discovery results) last gathered longer than
        ``max_age`` ago; concurrent calls for the same sources share one gather."""
        keys = [*specs, *([_DISCOVERY + discovery_query] if discovery_query else [])]
        if not keys:
            return []
        key = tuple(sorted(keys))
        lock = self._gather_locks.get(key)
        if lock is None:
            lock = self._gather_locks[key] = asyncio.Lock()
        async with lock:
            if max_age > timedelta(0):
                gathered_at = await asyncio.to_thread(self.store.feeds.gathered_at, keys)
                cutoff = self.clock() - max_age
                if all(key in gathered_at and gathered_at[key] >= cutoff for key in keys):
                    log.debug("sources gathered within %s: not gathering again", max_age)
                    return []
            result = await self.ingest(
                specs, discovery_query=discovery_query, progress=progress, untrusted=untrusted
            )
            failed = {error.source for error in result.errors}
            if not result.report.errors:
                done = [k for k in keys if k not in failed]
                await asyncio.to_thread(self.store.feeds.touch, done, self.clock())
            return result.errors

    async def ingest(
        self,
        specs: Sequence[str],
        *,
        discovery_query: str | None = None,
        progress: Progress | None = None,
        untrusted: Collection[str] = (),
    ) -> IngestResult:
        """Gather the sources (and discovery results for ``discovery_query``) and store them.

        Feed validators are remembered only when every article was stored, so a failed run
        is fetched in full next time."""
        urls = [spec for spec in specs if spec.startswith(("http://", "https://"))]
        known = await asyncio.to_thread(self.store.feeds.validators, urls)
        state = _DeferredFeedState(known)
        gathered = await self.gather(
            specs,
            discovery_query=discovery_query,
            progress=progress,
            feed_state=state,
            untrusted=untrusted,
        )
        report = await self.ingest_articles(gathered.articles)
        if not report.errors and state.pending:
            await asyncio.to_thread(self.store.feeds.set_many, state.pending)
        return IngestResult(report, [*gathered.errors, *report.errors], len(gathered.articles))

    async def gather(
        self,
        specs: Sequence[str],
        *,
        discovery_query: str | None = None,
        progress: Progress | None = None,
        feed_state: _DeferredFeedState | None = None,
        untrusted: Collection[str] = (),
    ) -> GatherResult:
        """Fetch the sources (and discovery results for ``discovery_query``), storing nothing.

        ``untrusted`` sources (added from chat) are fetched from public addresses only."""
        gathered = GatherResult(articles=[], errors=[])
        if specs:
            gathered.extend(
                await gather(
                    specs,
                    self.settings,
                    feed_state=feed_state,
                    progress=progress,
                    untrusted=untrusted,
                )
            )
        if discovery_query and self.settings.discovery:
            gathered.extend(await discover(discovery_query, self.settings, progress=progress))
        return gathered

    async def ingest_articles(self, articles: Sequence[Article]) -> IngestReport:
        """Normalise, deduplicate, store and cluster ``articles`` (one ingest at a time)."""
        async with self._ingest_lock:
            return await asyncio.to_thread(self.ingestor.ingest, articles)

    # ------------------------------------------------------------------ stories
    async def stories(
        self, topic: str | None = None, since: timedelta | None = None
    ) -> list[tuple[Story, list[Article]]]:
        """Stored stories updated within ``since`` (all of them by default), with their
        articles; only those about ``topic`` when it is given, most relevant first."""
        window = since or MAX_DURATION
        now = self.clock()
        if topic:
            return await self._select(await self.resolve_topic(topic), window, now)

        def everything() -> list[tuple[Story, list[Article]]]:
            found = self.store.articles.stories_updated_since(now - window)
            members = self.store.articles.stories_with_articles([s.id for s in found])
            return [(story, members[story.id]) for story in found]

        return await asyncio.to_thread(everything)

    # ------------------------------------------------------------------ topics
    @property
    def topics_file(self) -> Path:
        return self.settings.resolved_topics_file

    async def topics(self) -> dict[str, Topic]:
        """The tracked topics, by name: the topics file with the changes made from chat."""

        def read() -> dict[str, Topic]:
            return merge_chat_changes(
                load_topics(self.topics_file), self.store.topic_sources.changes()
            )

        return await asyncio.to_thread(read)

    async def add_chat_source(self, name: str, url: str, *, added_by: str) -> tuple[Topic, int]:
        """Add the feed ``url`` to topic ``name`` from chat: it is fetched once first (from a
        public address only, unless ``BRIEFBOT_ALLOW_PRIVATE_SOURCES``) and must be a feed;
        its articles are stored. Returns the topic and how many articles the feed had.

        The change is stored in the database, never in the topics file."""
        key = topic_key(name)
        if not key:
            raise InvalidRequest("The topic is empty; name one, e.g. sources ukraine.")
        url = url.strip().strip("<>")
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"{url!r} is not a web address; give the http:// or https:// URL of an RSS "
                "or Atom feed."
            )
        topic = (await self.topics()).get(key)
        if topic is not None and url in topic.sources:
            raise InvalidRequest(f"{topic.name} already has the feed {url}.")
        result = await self.ingest([url], untrusted=[url])
        fetch_errors = [error for error in result.errors if error.source == url]
        if fetch_errors and not result.gathered and CHAT_RULE in fetch_errors[0].error:
            raise InvalidRequest(f"Not added: {fetch_errors[0].error}.")  # names the fix
        if fetch_errors and not result.gathered:
            raise InvalidRequest(
                f"{url} is not a feed I can read ({fetch_errors[0].error}); give the URL of "
                "an RSS or Atom feed."
            )
        async with self._topics_lock:
            await asyncio.to_thread(self.store.topic_sources.set, key, url, ADDED, added_by)
            topic = (await self.topics())[key]
        await asyncio.to_thread(self.store.feeds.touch, [url], self.clock())
        return topic, result.gathered

    async def remove_chat_source(self, name: str, url: str, *, removed_by: str) -> Topic:
        """Take the feed ``url`` off topic ``name`` from chat (a feed of the topics file
        too): stored in the database, the file is left as it is."""
        key = topic_key(name)
        url = url.strip().strip("<>")
        async with self._topics_lock:
            topic = (await self.topics()).get(key)
            if topic is None or url not in topic.sources:
                raise InvalidRequest(
                    f"{key!r} has no feed {url}; say sources {key or 'TOPIC'} to see its feeds."
                )
            await asyncio.to_thread(self.store.topic_sources.set, key, url, REMOVED, removed_by)
            return (await self.topics()).get(key) or Topic(key)

    async def save_topic(
        self,
        name: str,
        *,
        query: str | None = None,
        sources: Sequence[str] = (),
        discovery: bool | None = None,
    ) -> Topic:
        """Track a topic, or update a tracked one: a new query replaces the old, sources are
        added (each once), discovery is switched on when asked."""
        key = topic_key(name)
        if not key:
            raise InvalidRequest("A topic name must not be empty; name one, e.g. ukraine.")
        async with self._topics_lock:
            topics = await self.topics()
            topic = topics.get(key) or Topic(key)
            if query is not None:
                topic.query = query
            topic.sources.extend(s for s in dict.fromkeys(sources) if s not in topic.sources)
            if discovery is not None:
                topic.discovery = discovery or topic.discovery
            topics[key] = topic
            await asyncio.to_thread(save_topics, self.topics_file, topics)
            return topic

    async def remove_topic(self, name: str) -> Topic:
        """Stop tracking a topic (its stored articles and stories are kept)."""
        key = topic_key(name)
        async with self._topics_lock:
            topics = await self.topics()
            topic = topics.pop(key, None)
            if topic is None:
                raise InvalidRequest(f"There is no topic {name!r} in {self.topics_file}.")
            await asyncio.to_thread(save_topics, self.topics_file, topics)
            return topic

    async def remove_source(self, name: str, source: str) -> Topic:
        """Take one source off a tracked topic."""
        key = topic_key(name)
        async with self._topics_lock:
            topics = await self.topics()
            topic = topics.get(key)
            if topic is None or source not in topic.sources:
                raise InvalidRequest(f"Topic {name!r} has no source {source!r}.")
            topic.sources.remove(source)
            await asyncio.to_thread(save_topics, self.topics_file, topics)
            return topic

    # ------------------------------------------------------------------ subscriptions
    async def subscribe(
        self,
        channel: Channel,
        topic: str,
        *,
        schedule: str,
        timezone: str,
        created_by: str,
        nothing_new: str = "line",
        updates: str = "off",
    ) -> Subscription:
        """Subscribe ``channel`` to ``topic``'s digest (replacing its earlier subscription).

        ``nothing_new`` is what a digest with nothing new does (``NOTHING_NEW``: "line"
        posts one line, "silent" nothing); ``updates`` is "live" to post a story's material
        developments into its thread as they come, "off" otherwise (``UPDATES``)."""
        key = topic_key(topic)
        if not key:
            raise InvalidRequest("Name the topic to subscribe to, e.g. ukraine.")
        if not schedule.strip():
            raise InvalidRequest("Give a schedule, e.g. daily 08:00.")
        if nothing_new not in NOTHING_NEW:
            raise InvalidRequest(f"nothing_new is one of {', '.join(NOTHING_NEW)}.")
        if updates not in UPDATES:
            raise InvalidRequest(f"updates is one of {', '.join(UPDATES)}.")
        zone = check_timezone(timezone)
        subscription = Subscription(
            channel,
            key,
            " ".join(schedule.split()),
            zone,
            created_by,
            self.clock(),
            nothing_new=nothing_new,
            updates=updates,
        )
        saved = await asyncio.to_thread(self.store.subscriptions.upsert, subscription)
        self._subscriptions_changed()
        return saved

    async def unsubscribe(self, channel: Channel, topic: str) -> bool:
        """End the channel's subscription to ``topic``; False when it had none."""
        removed = await asyncio.to_thread(self.store.subscriptions.remove, channel, topic)
        if removed:
            self._subscriptions_changed()
        return removed

    def _subscriptions_changed(self) -> None:
        for listener in list(self.subscription_listeners):
            try:
                listener()
            except Exception:  # a listener's bug must not fail the user's subscribe
                log.exception("a subscription listener failed")

    async def subscriptions(self, channel: Channel | None = None) -> list[Subscription]:
        """The channel's subscriptions (every channel's with ``None``)."""
        if channel is None:
            return await asyncio.to_thread(self.store.subscriptions.all)
        return await asyncio.to_thread(self.store.subscriptions.of_channel, channel)

    # ------------------------------------------------------------------ posted messages
    async def record_post(
        self,
        briefing: Briefing,
        channel: Channel,
        message_id: str,
        *,
        thread_id: str | None = None,
    ) -> PostedMessage:
        """Remember that ``briefing`` was posted as ``message_id`` in ``channel``."""
        message = PostedMessage(
            channel=channel,
            message_id=message_id,
            thread_id=thread_id,
            briefing_ids=list(briefing.saved_ids),
            story_ids=[story.story_id for story in briefing.stories],
            posted_at=self.clock(),
        )
        return await asyncio.to_thread(self.store.channels.record_post, message)

    async def record_posted(
        self,
        channel: Channel,
        message_id: str,
        *,
        thread_id: str | None,
        briefing_ids: Sequence[int],
        story_ids: Sequence[str],
        topic: str | None = None,
    ) -> PostedMessage:
        """Remember a delivery posted as ``message_id`` with the briefings it carried (a
        delivery found on the platform after a crash has only their ids); ``topic`` for a
        post that carries no briefing (an ``ask`` answer)."""
        message = PostedMessage(
            channel=channel,
            message_id=message_id,
            thread_id=thread_id,
            briefing_ids=list(briefing_ids),
            story_ids=list(story_ids),
            posted_at=self.clock(),
            topic=topic,
        )
        return await asyncio.to_thread(self.store.channels.record_post, message)

    async def story_posts(
        self, channel: Channel, story_ids: Sequence[str]
    ) -> dict[str, PostedMessage]:
        """The newest message of ``channel`` carrying each story (where an update goes)."""
        return await asyncio.to_thread(
            self.store.channels.latest_posts_of_stories, channel, story_ids
        )

    async def development(
        self, story_id: str, new_article_ids: Collection[int], channel: Channel, topic: str
    ) -> Briefing | None:
        """A live update of ``story_id`` for ``channel``: its material developments among
        the articles just stored (``bot.summarize.developments``), or ``None``.

        The story is briefed as a whole (a model briefing of the same articles is shared by
        every channel) and saved for the channel, so its next digest counts these points as
        seen; the update itself carries only the new points."""

        def read() -> tuple[Story | None, list[Article], list[str]]:
            story = self.store.articles.get_story(story_id)
            members = self.store.articles.stories_with_articles([story_id]).get(story_id, [])
            return story, members, self.store.briefings.point_texts(story_id)

        story, articles, earlier = await asyncio.to_thread(read)
        if story is None or not articles:
            return None
        whole = await self.briefer.brief_story(story, articles, channel)
        points = await asyncio.to_thread(material_points, whole, earlier, new_article_ids)
        if not points:
            return None
        now = self.clock()
        saved = Briefing(topic=topic, generated_at=now, mode=whole.mode, stories=[whole])
        saved_ids = await asyncio.to_thread(self.store.briefings.save, saved, channel)
        cited = {source_id for point in points for source_id in point.sources}
        update = replace(
            whole,
            key_points=points,
            whats_new=points,
            disagreements=[],
            sources=[source for source in whole.sources if source.id in cited],
            status=StoryStatus.UPDATED,
        )
        return Briefing(
            topic=topic,
            generated_at=now,
            mode=whole.mode,
            stories=[update],
            saved_ids=saved_ids,
            digest=DigestInfo(kind=str(DeliveryKind.UPDATE), slot_at=now),
        )

    async def posts_in_thread(self, channel: Channel, thread_id: str) -> list[PostedMessage]:
        """The briefings posted in (or starting) a thread: what a follow-up is about."""
        return await asyncio.to_thread(self.store.channels.posts_in_thread, channel, thread_id)

    async def thread_stories(
        self, channel: Channel, thread_id: str
    ) -> list[tuple[Story, list[Article]]]:
        """The stories of the briefings posted in (or starting) a thread, with their
        articles as stored now: what a follow-up question in that thread is about."""
        posts = await self.posts_in_thread(channel, thread_id)
        return await self._stories_by_id([sid for post in posts for sid in post.story_ids])

    # ------------------------------------------------------------------ questions
    async def answer(
        self,
        channel: Channel,
        question: str,
        *,
        thread_id: str | None = None,
        topic: str | Topic | None = None,
        since: timedelta | None = None,
        sources: Sequence[str] = (),
        max_age: timedelta | None = None,
        refresh: bool = False,
    ) -> Answer:
        """Answer ``question`` from a story's sources only: the one call of every interface.

        - With ``thread_id``: from the stories of the briefings posted in that thread, with
          the thread's stored turns as history; the new turn is stored.
        - With ``topic`` (no thread): from the channel's newest briefing of that topic, or,
          when the channel has none, the stories a briefing of the topic would carry (most
          relevant first) updated within ``since`` (default ``BRIEFBOT_SINCE``). With
          ``refresh`` or ``sources``, or when the channel has no briefing of the topic, the
          topic's sources and ``sources`` are gathered first (like ``brief``: when gathered
          longer than ``max_age`` ago). No turn is
          stored: ``record_answer`` stores it once the answer is posted, under the thread
          it starts.
        - "What's the latest?" (``is_latest_question``): the topic's sources are gathered
          first (when gathered longer than ``max_age`` ago, default
          ``BRIEFBOT_GATHER_MAX_AGE``), and the engine is told the thread's (or channel's)
          last briefing time so it marks the sources new since.
        - An empty question, or one over ``MAX_QUESTION_CHARS``, is refused without asking
          the engine; so is one with no story to answer from.
        """
        text = " ".join(question.split())
        if not text:
            return refusal(
                text,
                Refusal.EMPTY,
                "Ask me a question, e.g. ask ukraine what did Press TV say?",
            )
        if len(text) > MAX_QUESTION_CHARS:
            return refusal(
                text[:MAX_QUESTION_CHARS],
                Refusal.TOO_LONG,
                f"That question is {len(text)} characters long; I answer questions of at "
                f"most {MAX_QUESTION_CHARS} characters. Please ask a shorter one.",
            )
        latest = is_latest_question(text)
        if thread_id is not None:
            return await self._answer_in_thread(channel, thread_id, text, latest, max_age)
        if topic is None:
            raise InvalidRequest("Name the topic to ask about, e.g. ask ukraine what happened?")
        chosen = topic if isinstance(topic, Topic) else await self.resolve_topic(topic)
        post = await asyncio.to_thread(
            self.store.channels.latest_post_of_topic, channel, chosen.name
        )
        if latest or sources or refresh or post is None:
            await self._gather_topic(chosen, sources, max_age)
        stories: list[tuple[Story, list[Article]]] = []
        if post is not None:
            stories = await self._stories_by_id(post.story_ids)
        if not stories:
            window = since if since is not None else parse_duration(self.settings.since)
            # The stories a briefing of the topic would carry, most relevant first: one event
            # may sit in two stories (an article clustered apart), and the answer comes
            # from whichever holds the passage.
            stories = await self._select(chosen, window, self.clock())
        if not stories:
            answer = refusal(
                text,
                Refusal.NO_STORY,
                f"I have no story about {chosen.name} to answer from yet; say brief "
                f"{chosen.name} for a fresh briefing, then ask again.",
            )
            answer.topic = chosen.name
            return answer
        last = post.posted_at if post is not None and latest else None
        answer = await self.qa.answer(text, stories, since=last)
        answer.topic = chosen.name
        return answer

    async def _answer_in_thread(
        self,
        channel: Channel,
        thread_id: str,
        text: str,
        latest: bool,
        max_age: timedelta | None,
    ) -> Answer:
        posts = await self.posts_in_thread(channel, thread_id)
        topics = await self._topics_of(posts) if posts else []
        if latest:
            for name in topics:
                await self._gather_topic(await self.resolve_topic(name), (), max_age)
        stories = await self.thread_stories(channel, thread_id)
        if not stories and topics and latest:
            # an ``ask`` answer that found no story: the topic may have one now
            window = parse_duration(self.settings.since)
            for name in topics:
                stories.extend(
                    await self._select(await self.resolve_topic(name), window, self.clock())
                )
        if not stories:
            return refusal(
                text,
                Refusal.NO_STORY,
                "This thread has no briefing of mine to answer from. Say brief <topic> "
                "for a briefing, then ask your question in its thread.",
            )
        history = await asyncio.to_thread(
            self.store.turns.of_thread, channel, thread_id, MEMORY_TURNS
        )
        last = max(post.posted_at for post in posts) if latest and posts else None
        answer = await self.qa.answer(text, stories, history=history, since=last)
        turn = Turn(text, answer.text, self.clock(), answer.story_id)
        await asyncio.to_thread(
            self.store.turns.record, channel, thread_id, turn, refused=answer.refused
        )
        return answer

    async def record_answer(
        self,
        answer: Answer,
        channel: Channel,
        message_id: str,
        *,
        thread_id: str | None = None,
    ) -> PostedMessage:
        """Remember that ``answer`` (of ``ask TOPIC``) was posted as ``message_id``: the post
        carries its story, so a follow-up in its thread is answered from that story, with
        this question as the thread's first turn."""
        posted = await self.record_posted(
            channel,
            message_id,
            thread_id=thread_id,
            briefing_ids=[],
            story_ids=[answer.story_id] if answer.story_id else [],
            topic=answer.topic,
        )
        turn = Turn(answer.question, answer.text, self.clock(), answer.story_id)
        await asyncio.to_thread(
            self.store.turns.record,
            channel,
            thread_id or message_id,
            turn,
            refused=answer.refused,
        )
        return posted

    async def turns(
        self, channel: Channel, thread_id: str, limit: int = MEMORY_TURNS
    ) -> list[Turn]:
        """The thread's newest ``limit`` question-and-answer turns, oldest first."""
        return await asyncio.to_thread(self.store.turns.of_thread, channel, thread_id, limit)

    async def _gather_topic(
        self, topic: Topic, sources: Sequence[str], max_age: timedelta | None
    ) -> list[SourceError]:
        """Gather the topic's sources (and ``sources``) as ``brief`` does."""
        specs = list(dict.fromkeys([*topic.sources, *sources]))
        use_discovery = topic.discovery or not specs
        query = topic.effective_query if use_discovery and self.settings.discovery else None
        age = max_age if max_age is not None else parse_duration(self.settings.gather_max_age)
        return await self.refresh(
            specs, discovery_query=query, max_age=age, untrusted=topic.chat_sources
        )

    async def _topics_of(self, posts: Sequence[PostedMessage]) -> list[str]:
        """The topics of these posts: of the briefings they carried, and the topic an
        ``ask`` answer answered (it carries no briefing)."""
        ids = [briefing_id for post in posts for briefing_id in post.briefing_ids]
        stored = await asyncio.to_thread(self.store.briefings.by_ids, ids) if ids else {}
        asked = [post.topic for post in posts if post.topic]
        return list(dict.fromkeys([*(found.topic for found in stored.values()), *asked]))

    async def _stories_by_id(self, story_ids: Sequence[str]) -> list[tuple[Story, list[Article]]]:
        wanted = list(dict.fromkeys(story_ids))
        if not wanted:
            return []

        def read() -> list[tuple[Story, list[Article]]]:
            members = self.store.articles.stories_with_articles(wanted)
            found = []
            for story_id in wanted:
                story = self.store.articles.get_story(story_id)
                if story is not None:
                    found.append((story, members.get(story_id, [])))
            return found

        return await asyncio.to_thread(read)

    async def claim_event(self, platform: str, event_id: str) -> bool:
        """True the first time a platform delivery is seen (across restarts and replicas),
        False for a retry of it."""
        return await asyncio.to_thread(self.store.events.claim, platform, event_id)

    # ------------------------------------------------------------------ usage
    async def usage(self, since: timedelta, by: GroupBy) -> UsageReport:
        """Tokens and cost of the briefings saved within ``since``, grouped ``by``, with
        today's spend against the daily budgets."""
        now = self.clock()
        start = now - min(since, MAX_DURATION)
        records = await asyncio.to_thread(self.store.spend.usage_records, records_since(start, now))
        return summarize_usage(
            records,
            by=by,
            since=start,
            now=now,
            daily_budget=self.settings.daily_token_budget,
            channel_budget=self.settings.channel_daily_token_budget,
        )


def is_latest_question(question: str) -> bool:
    """Whether ``question`` asks for the latest ("what's the latest?", "anything new since
    yesterday?"): it is, or starts with, one of ``LATEST_PHRASINGS``."""
    text = _LATEST_CLEAN.sub("", " ".join(question.lower().replace("’", "'").split()))
    return any(text == phrase or text.startswith(phrase + " ") for phrase in LATEST_PHRASINGS)


def refusal(question: str, reason: Refusal, text: str) -> Answer:
    """A refused ``Answer`` that no engine was asked for."""
    return Answer(
        question=question,
        text=text,
        claims=[],
        sources=[],
        story_id=None,
        refused=True,
        reason=reason,
    )


def check_timezone(name: str) -> str:
    """``name`` as an IANA time zone (``Europe/Kyiv``), or ``InvalidRequest`` naming the fix."""
    try:
        return check_zone(name)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def merge_chat_changes(
    topics: dict[str, Topic], changes: Sequence[SourceChange]
) -> dict[str, Topic]:
    """The topics file's topics with the source changes made from chat applied in order.

    An added feed the file does not list is a chat source (fetched from public addresses
    only); a topic that only chat made and that has no feed left is dropped."""
    from_chat: set[str] = set()
    for change in changes:
        topic = topics.get(change.topic)
        if topic is None:
            if change.state != ADDED:
                continue
            topic = topics[change.topic] = Topic(change.topic)
            from_chat.add(change.topic)
        if change.state == ADDED and change.url not in topic.sources:
            topic.sources.append(change.url)
            topic.chat_sources.append(change.url)
        elif change.state == REMOVED and change.url in topic.sources:
            topic.sources.remove(change.url)
            if change.url in topic.chat_sources:
                topic.chat_sources.remove(change.url)
    for key in from_chat:
        if not topics[key].sources:
            del topics[key]
    return topics
