"""Polling: every source of every tracked topic on its own schedule, with its health.

``Poller.poll_due()`` polls each source whose next poll is due (or that was never polled),
at most ``BRIEFBOT_POLL_CONCURRENCY`` at once, each through ``BriefingService.ingest`` (so
conditional GET works as everywhere: the stored ETag / Last-Modified are sent, and a 304 is
a success that gathered nothing). ``install(scheduler)`` runs it as APScheduler's ``poll``
job every ``POLL_TICK`` seconds.

- A source several topics list is polled once; it is fetched as the operator's (trusted)
  when any topic has it from the topics file, as a chat source (public addresses only)
  when every topic that lists it got it from chat.
- Success: the next poll is ``BRIEFBOT_POLL_INTERVAL`` later, the failures in a row start
  again from 0. Failure (nothing gathered and an error, or nothing of it stored): the next
  poll is a "full jitter" backoff, uniform in ``[0, min(BRIEFBOT_POLL_MAX_BACKOFF,
  interval * 2 ** (failures - 1))]`` but never sooner than ``MIN_RETRY`` (or that cap when
  it is smaller), drawn from the injected ``random.Random``.
- A poll that stored new articles is handed to ``on_ingested`` (live updates hook in
  there); an exception in it is logged, polling goes on. An error in one source never
  stops the others: it is recorded as that source's ``last_error``.
- A successful poll also marks the source gathered (``store.feeds.touch``), so a chat
  briefing within ``BRIEFBOT_GATHER_MAX_AGE`` does not fetch it again.
- Discovery-only topics (no sources) are not polled: a search API is no feed to poll every
  few minutes, and GDELT limits how often it may be asked. They are gathered when briefed,
  as before (``BRIEFBOT_GATHER_MAX_AGE``).

The health is kept in the store (``store.health``); ``health_report`` pairs it with the
tracked topics for ``briefbot sources``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.config import Settings, parse_duration
from bot.domain import SourceHealth, Topic, topic_key
from bot.redact import redact
from bot.service import BriefingService, IngestResult

log = logging.getLogger(__name__)

POLL_JOB = "poll"
POLL_TICK = 15.0
"""Seconds between two looks for due sources (each source has its own interval)."""

LIVE_INTERVAL = timedelta(minutes=4)
"""The longest poll interval of a source of a topic some channel follows live: with the
poll tick, a development reaches its thread within five minutes of appearing in the feed."""

MIN_RETRY = timedelta(minutes=1)
"""A failed source is not polled again sooner than this (unless the backoff cap is less)."""

OnIngested = Callable[[IngestResult], Awaitable[object]]


class JobScheduler(Protocol):
    """What ``install`` needs of APScheduler 3's ``AsyncIOScheduler``."""

    def add_job(self, func: Callable[..., Any], trigger: str, **options: Any) -> object: ...


@dataclass(slots=True)
class TrackedSource:
    """A source as the topics list it: which topics, and whether only chat added it."""

    source: str
    topics: list[str] = field(default_factory=list)
    untrusted: bool = True


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One source's poll: its health after it, and what it stored."""

    source: str  # redacted
    health: SourceHealth
    gathered: int = 0  # articles the source yielded (0 for a 304)
    new_articles: int = 0
    error: str | None = None  # why the poll failed; None when it worked

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class PollRound:
    """What one ``poll_due`` did: the sources it polled and how many were not due yet."""

    at: datetime
    outcomes: list[PollOutcome] = field(default_factory=list)
    waiting: int = 0  # tracked sources whose next poll is later

    @property
    def failed(self) -> list[PollOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def new_articles(self) -> int:
        return sum(outcome.new_articles for outcome in self.outcomes)


def tracked_sources(topics: Mapping[str, Topic]) -> dict[str, TrackedSource]:
    """Every source of ``topics`` once, with the topics that list it (by topic name)."""
    found: dict[str, TrackedSource] = {}
    for name in sorted(topics):
        topic = topics[name]
        chat = set(topic.chat_sources)
        for spec in topic.sources:
            source = spec.strip()
            if not source:
                continue
            tracked = found.setdefault(source, TrackedSource(source))
            if topic.name not in tracked.topics:
                tracked.topics.append(topic.name)
            if spec not in chat:
                tracked.untrusted = False  # the operator vouches for it in this topic
    return found


async def health_report(service: BriefingService) -> list[tuple[TrackedSource, SourceHealth]]:
    """Each tracked source with its health (a blank one when it was never polled), in
    source order (as redacted)."""
    tracked = tracked_sources(await service.topics())
    known = await asyncio.to_thread(service.store.health.get_many, list(tracked))
    rows = [
        (source, known.get(source.source) or SourceHealth(source=redact(source.source)))
        for source in tracked.values()
    ]
    return sorted(rows, key=lambda row: row[1].source)


def failure_of(result: IngestResult) -> str | None:
    """Why a one-source ingest failed, or ``None`` when it worked.

    It failed when it went wrong and nothing of it was kept: no article gathered and an
    error (HTTP status, connection, not a feed, malformed XML...), or every article it
    gathered failed to be stored. A 304 gathers nothing without an error: a success."""
    if not result.errors:
        return None
    stored_errors = len(result.report.errors)
    if result.gathered and result.gathered > stored_errors:
        return None  # some articles were kept; the problems are per item or per page
    first = result.errors[0].error
    more = len(result.errors) - 1
    return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


class Poller:
    """Polls the tracked topics' sources, each on its own schedule (see the module)."""

    def __init__(
        self,
        service: BriefingService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] | None = None,
        random: random.Random | None = None,
        on_ingested: OnIngested | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock or service.clock
        self.interval = parse_duration(settings.poll_interval)
        self.max_backoff = parse_duration(settings.poll_max_backoff)
        self._random = random if random is not None else _new_random()
        self._on_ingested = on_ingested
        self._gate = asyncio.Semaphore(settings.poll_concurrency)
        self._round = asyncio.Lock()  # one round at a time, however it is started
        self._live: set[str] = set()  # topics some channel follows with live updates

    # ------------------------------------------------------------------ schedule
    def install(
        self,
        scheduler: JobScheduler,
        *,
        tick: float = POLL_TICK,
        run: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Add the ``poll`` job: a look for due sources every ``tick`` seconds, the first at
        once. ``coalesce`` and one instance at most: a round that outlasts the tick is not
        started twice, and ticks missed while the loop was busy run once. No misfire
        grace limit (``None``): a late look is still worth making, and the sources'
        own due times (in the store) decide what it polls. ``run`` replaces the job's
        function (the scheduler runs each round as a task of its own)."""
        scheduler.add_job(
            run or self._job,
            "interval",
            seconds=tick,
            id=POLL_JOB,
            name="poll the sources that are due",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    async def _job(self) -> None:
        try:
            await self.poll_due()
        except Exception:  # the topics file or the store failed: try again next tick
            log.exception("polling the sources failed; trying again in the next round")

    def next_poll(self, at: datetime, failures: int, *, live: bool = False) -> datetime:
        """When to poll a source next after a poll at ``at`` that left ``failures`` in a
        row (0: it worked). A ``live`` source (of a topic a channel follows live) waits at
        most ``LIVE_INTERVAL`` after a success."""
        if failures <= 0:
            return at + (min(self.interval, LIVE_INTERVAL) if live else self.interval)
        grown = self.interval.total_seconds() * 2.0 ** min(failures - 1, 60)
        cap = min(self.max_backoff.total_seconds(), grown)
        floor = min(cap, MIN_RETRY.total_seconds())
        return at + timedelta(seconds=max(floor, self._random.uniform(0, cap)))

    # ------------------------------------------------------------------ polling
    async def poll_due(self, now: datetime | None = None) -> PollRound:
        """Poll every tracked source due at ``now`` (default: the clock), at most
        ``BRIEFBOT_POLL_CONCURRENCY`` at once; most overdue (and never polled) first."""
        async with self._round:
            at = now or self.clock()
            tracked = tracked_sources(await self.service.topics())
            self._live = {
                topic_key(sub.topic)
                for sub in await self.service.subscriptions()
                if sub.updates == "live"
            }
            known = await asyncio.to_thread(self.service.store.health.get_many, list(tracked))
            due = [source for source in tracked.values() if _is_due(known.get(source.source), at)]
            due.sort(key=lambda source: _due_at(known.get(source.source)))
            done = PollRound(at, waiting=len(tracked) - len(due))
            if due:
                done.outcomes = list(await asyncio.gather(*(self._poll(s, at) for s in due)))
                log.info(
                    "polled %d source(s): %d failed, %d new article(s)",
                    len(done.outcomes),
                    len(done.failed),
                    done.new_articles,
                )
            return done

    async def _poll(self, source: TrackedSource, at: datetime) -> PollOutcome:
        async with self._gate:
            try:
                outcome, result = await self._poll_one(source, at)
            except Exception as exc:  # the store failed recording it: this source only
                log.exception("could not record the poll of %s", redact(source.source))
                return PollOutcome(
                    redact(source.source),
                    SourceHealth(source=redact(source.source)),
                    error=redact(f"could not record the poll: {exc}"),
                )
        # Outside the poll slot: live updates post to chat platforms at their own pace.
        if result is not None and outcome.new_articles and self._on_ingested is not None:
            try:
                await self._on_ingested(result)
            except Exception:  # live updates must not stop polling
                log.exception("the on_ingested callback failed after polling %s", outcome.source)
        return outcome

    async def _poll_one(
        self, source: TrackedSource, at: datetime
    ) -> tuple[PollOutcome, IngestResult | None]:
        """Poll one source and record its health; the ingest's result when it worked."""
        spec = source.source
        try:
            result = await self.service.ingest([spec], untrusted=[spec] if source.untrusted else ())
        except Exception as exc:  # a store failure or a bug: recorded, the others go on
            log.exception("polling %s failed", redact(spec))
            why = f"unexpected error: {type(exc).__name__}: {exc}"
            return await self._failed(spec, at, why), None
        problem = failure_of(result)
        if problem is not None:
            return await self._failed(spec, at, problem, result.gathered), None
        if not result.report.errors:
            await asyncio.to_thread(self.service.store.feeds.touch, [spec], at)
        health = self.service.store.health
        live = any(topic in self._live for topic in source.topics)
        kept = await asyncio.to_thread(
            health.record_success, spec, at, result.gathered, self.next_poll(at, 0, live=live)
        )
        outcome = PollOutcome(kept.source, kept, result.gathered, len(result.report.new_articles))
        return outcome, result

    async def _failed(
        self, spec: str, at: datetime, problem: str, gathered: int = 0
    ) -> PollOutcome:
        message = redact(problem)
        log.warning("polling %s failed: %s", redact(spec), message)
        failed = await asyncio.to_thread(
            self.service.store.health.record_failure,
            spec,
            at,
            message,
            lambda failures: self.next_poll(at, failures),
        )
        return PollOutcome(failed.source, failed, gathered, error=message)


def _is_due(health: SourceHealth | None, at: datetime) -> bool:
    return health is None or health.next_poll_at is None or health.next_poll_at <= at


def _due_at(health: SourceHealth | None) -> datetime:
    if health is None or health.next_poll_at is None:
        return datetime.min.replace(tzinfo=UTC)
    return health.next_poll_at


def _new_random() -> random.Random:
    return random.Random()  # jitter, not cryptography
