"""The scheduler of one leader process: a job per subscription on APScheduler 3.11's
``AsyncIOScheduler`` (in the chat adapters' event loop), recovery of what a restart or a
dead leader left behind, the pollers, and live updates.

- **Jobs** come from the subscriptions table: rebuilt at start and re-read every
  ``BRIEFBOT_SUBSCRIPTION_SYNC`` seconds (a subscription may be made on another replica),
  and at once when this process changes one. They live in APScheduler's memory job store:
  the table is the truth, so no two schedulers ever share a job store.
- ``misfire_grace_time`` is the digest grace period (``BRIEFBOT_DIGEST_GRACE``) and
  ``coalesce`` is on: a run that the event loop starts late still delivers its slot once,
  however late within the grace. APScheduler's default of 1 s would silently skip it.
- **Recovery**, on becoming the leader: every delivery left claimed is taken over (looked
  up on its platform before posting again); for every subscription, the latest slot missed
  within the grace period (since its last delivery, and not before it was made) is
  delivered once, marked late. Older missed slots are skipped and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.chat.schedule import parse_schedule
from bot.config import Settings, parse_duration
from bot.domain import Briefing, Delivery, DeliveryKind, Platform, Subscription, utcnow
from bot.errors import InvalidRequest
from bot.scheduler.deliver import Deliverer, Outcome
from bot.scheduler.live import LiveUpdates
from bot.scheduler.polling import Poller
from bot.scheduler.ports import Outbox
from bot.scheduler.trigger import ScheduleTrigger, latest_slot, slot_key, slots_between
from bot.service import BriefingService

log = logging.getLogger(__name__)

_SYNC_JOB = "subscriptions"


class DigestScheduler:
    """Digest jobs, recovery and (optionally) the poller and live updates."""

    def __init__(
        self,
        service: BriefingService,
        settings: Settings,
        outboxes: Mapping[Platform, Outbox],
        *,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        poll: bool = True,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock
        self.grace = parse_duration(settings.digest_grace)
        self.deliverer = Deliverer(service, outboxes, owner=owner, grace=self.grace, clock=clock)
        self._gate = asyncio.Semaphore(settings.delivery_concurrency)
        # One digest at a time per channel, paced (``Outbox.pace``) before taking a place
        # of the gate: waiting out a 429 inside a delivery would hold a place idle.
        self._turns: dict[tuple[Platform, str], tuple[asyncio.Lock, list[int]]] = {}
        self._last_post: dict[tuple[Platform, str], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: dict[int, tuple[str, str]] = {}  # subscription id -> (schedule, zone)
        self._sync_lock = asyncio.Lock()
        self._subscriptions: dict[int, Subscription] = {}  # as the last sync read them
        self._started = False
        self.live = LiveUpdates(
            service,
            self.deliverer,
            interval=parse_duration(settings.live_update_interval),
            clock=clock,
        )
        # The pollers feed live updates; ``poll=False`` leaves polling to someone else.
        self.poller = (
            Poller(service, settings, clock=clock, on_ingested=self.live.on_ingested)
            if poll
            else None
        )

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(self.grace.total_seconds())),
            },
        )
        self._scheduler = scheduler
        scheduler.start()
        await self.sync()
        self._started = True  # from now on, a subscription new to sync may have a slot due
        # Every job only starts a task of ours: APScheduler never holds work in flight, so
        # a stop gives it the grace period (then cancels it) instead of cancelling it
        # under APScheduler's feet.
        scheduler.add_job(
            self._background(self.sync, "re-reading the subscriptions"),
            "interval",
            seconds=self.settings.subscription_sync,
            id=_SYNC_JOB,
            coalesce=True,
            misfire_grace_time=None,
        )
        if self.poller is not None:
            self.poller.install(
                scheduler, run=self._background(self.poller.poll_due, "polling the sources")
            )
        self.service.subscription_listeners.append(self._changed)
        self._spawn(self.recover())
        log.info("scheduler started: %d subscription(s)", len(self._jobs))

    async def stop(self, grace: float) -> None:
        """Stop firing; give deliveries in flight ``grace`` seconds, then cancel them (a
        cancelled one stays claimed and is recovered by the next leader)."""
        if self._changed in self.service.subscription_listeners:
            self.service.subscription_listeners.remove(self._changed)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("scheduler: %d delivery(ies) cancelled at shutdown", len(pending))

    def _background(
        self, work: Callable[[], Coroutine[Any, Any, object]], what: str
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """A job that runs ``work`` as a task of ours, one at a time: a tick that finds the
        previous run still going skips; an error is logged and the next tick tries again."""
        running: list[asyncio.Task[Any]] = []

        async def guarded() -> None:
            try:
                await work()
            except Exception:
                log.exception("scheduler: %s failed; trying again at the next tick", what)

        async def job() -> None:
            if running and not running[0].done():
                return
            running[:] = [self._spawn(guarded())]

        return job

    def _changed(self) -> None:
        """A subscription of this process changed: rebuild the jobs now."""
        if self._scheduler is not None:
            self._spawn(self.sync())

    def _spawn(self, work: Coroutine[Any, Any, object]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until no delivery is in flight (for tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ jobs
    async def sync(self) -> None:
        """Make the jobs match the subscriptions table."""
        async with self._sync_lock:
            await self._sync()

    async def _sync(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        subscriptions = await self.service.subscriptions()
        seen: set[int] = set()
        for sub in subscriptions:
            assert sub.id is not None
            seen.add(sub.id)
            self._subscriptions[sub.id] = sub
            spec = (sub.schedule, sub.timezone)
            if self._jobs.get(sub.id) == spec:
                continue
            try:
                trigger = ScheduleTrigger(sub.schedule, sub.timezone)
            except (InvalidRequest, ValueError, KeyError) as exc:
                log.error(
                    "subscription %d (%s in %s): unusable schedule %r: %s",
                    sub.id,
                    sub.topic,
                    sub.channel.label,
                    sub.schedule,
                    exc,
                )
                continue
            scheduler.add_job(
                self._fire,
                trigger,
                args=[sub.id],
                id=f"digest:{sub.id}",
                name=f"digest {sub.topic} -> {sub.channel.label}",
                replace_existing=True,
            )
            known = sub.id in self._jobs
            self._jobs[sub.id] = spec
            if self._started and not known:
                self._catch_up(sub, trigger)
        for gone in set(self._jobs) - seen:
            del self._jobs[gone]
            self._subscriptions.pop(gone, None)
            job = scheduler.get_job(f"digest:{gone}")
            if job is not None:
                job.remove()

    def _catch_up(self, sub: Subscription, trigger: ScheduleTrigger) -> None:
        """A subscription first seen after start (made on another replica, and read only
        now) whose latest slot passed after it was made, within the grace period: that
        slot is delivered now, late (its record keeps it single if someone had it)."""
        now = self.clock()
        slot = latest_slot(trigger.schedule, trigger.zone, now)
        if slot is None or slot < sub.created_at or now - slot > self.grace:
            return
        log.info(
            "subscription %d (%s in %s) was read after its slot of %s: delivering it, late",
            sub.id,
            sub.topic,
            sub.channel.label,
            slot.isoformat(),
        )
        self._spawn(self.deliver_digest(sub, slot, late=now - slot > timedelta(minutes=1)))

    def next_run(self, subscription_id: int) -> datetime | None:
        """When the subscription's next digest job fires (UTC), if it has a job."""
        job = self._scheduler.get_job(f"digest:{subscription_id}") if self._scheduler else None
        return job.next_run_time.astimezone(UTC) if job is not None and job.next_run_time else None

    async def _fire(self, subscription_id: int) -> None:
        """The job: deliver the slot that is due now, as a task of ours (APScheduler never
        waits for it, nor cancels it at a stop)."""
        self._spawn(self._due(subscription_id))

    async def _due(self, subscription_id: int) -> None:
        # As the last sync read it: 10,000 jobs of one minute re-reading their rows would
        # queue ahead of every claim. One removed since is refused by its claim.
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            return
        now = self.clock()
        slot = latest_slot(
            parse_schedule(subscription.schedule), ZoneInfo(subscription.timezone), now
        )
        if slot is None:
            return
        late = now - slot > timedelta(minutes=1)
        await self.deliver_digest(subscription, slot, late=late)

    async def deliver_digest(
        self,
        subscription: Subscription,
        slot_at: datetime,
        *,
        late: bool = False,
        take_over: bool = False,
    ) -> Outcome:
        """Deliver the subscription's digest of ``slot_at`` once."""

        assert subscription.id is not None

        async def build() -> Briefing:
            return await self.service.digest(subscription, slot_at=slot_at, late=late)

        channel = subscription.channel
        where = (channel.platform, channel.external_id)
        turn, users = self._turns.setdefault(where, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with turn:
                outbox = self.deliverer.outboxes.get(channel.platform)
                pace = outbox.pace if outbox is not None else 0.0
                last = self._last_post.get(where)
                if last is not None and pace:
                    await asyncio.sleep(max(0.0, last + pace - time.monotonic()))
                async with self._gate:
                    outcome = await self.deliverer.deliver(
                        subscription,
                        DeliveryKind.DIGEST,
                        slot_key(subscription.id, slot_at),
                        slot_at,
                        build,
                        late=late,
                        take_over=take_over,
                    )
                if outcome.message_id is not None:
                    self._last_post[where] = time.monotonic()
        finally:
            users[0] -= 1
            if not users[0]:
                del self._turns[where]  # nobody waits for this channel
                if time.monotonic() - self._last_post.get(where, 0.0) > 60:
                    self._last_post.pop(where, None)
        return outcome

    # ------------------------------------------------------------------ recovery
    async def _settle_update(self, sub: Subscription, left: Delivery) -> None:
        thread = None
        if left.story_id is not None:
            posts = await self.service.story_posts(sub.channel, [left.story_id])
            post = posts.get(left.story_id)
            thread = (post.thread_id or post.message_id) if post is not None else None
        outcome = await self.deliverer.settle(sub, left, thread_id=thread)
        log.info(
            "live update %s of %s left by a crash: %s",
            left.slot_key,
            sub.channel.label,
            outcome.state or "taken by someone else",
        )

    async def recover(self) -> None:
        """Take over deliveries left claimed, then deliver each subscription's latest slot
        missed within the grace period (late); log the older ones skipped."""
        now = self.clock()
        store = self.service.store
        pending = await asyncio.to_thread(store.deliveries.pending)
        subscriptions = {sub.id: sub for sub in await self.service.subscriptions()}
        resumed: set[tuple[int, str]] = set()
        for delivery in pending:
            sub = subscriptions.get(delivery.subscription_id)
            if sub is None:
                continue
            if delivery.kind is DeliveryKind.UPDATE:
                self._spawn(self._settle_update(sub, delivery))
                continue
            resumed.add((delivery.subscription_id, delivery.slot_key))
            if now - delivery.slot_at > self.grace:
                log.warning(
                    "digest %s of %s was left unfinished and its grace period is over: "
                    "checking the platform, then giving up",
                    delivery.slot_key,
                    sub.channel.label,
                )
            log.info(
                "recovering digest %s of %s (claimed by %s)",
                delivery.slot_key,
                sub.channel.label,
                delivery.owner,
            )
            self._spawn(
                self.deliver_digest(sub, delivery.slot_at, late=delivery.late, take_over=True)
            )
        latest = await asyncio.to_thread(store.deliveries.latest_slots, DeliveryKind.DIGEST)
        for sub in subscriptions.values():
            assert sub.id is not None
            try:
                schedule = parse_schedule(sub.schedule)
                zone = ZoneInfo(sub.timezone)
            except (InvalidRequest, ValueError, KeyError):
                continue
            since = max(sub.created_at, latest.get(sub.id, sub.created_at))
            missed = list(slots_between(schedule, zone, since, now))
            if not missed:
                continue
            due = missed[-1]
            skipped = [slot for slot in missed if now - slot > self.grace or slot != due]
            if skipped:
                log.warning(
                    "subscription %d (%s in %s): skipping %d missed digest(s) from %s to %s",
                    sub.id,
                    sub.topic,
                    sub.channel.label,
                    len(skipped),
                    skipped[0].isoformat(),
                    skipped[-1].isoformat(),
                )
            if now - due > self.grace or (sub.id, slot_key(sub.id, due)) in resumed:
                continue
            log.info(
                "subscription %d (%s in %s): delivering the missed digest of %s, late",
                sub.id,
                sub.topic,
                sub.channel.label,
                due.isoformat(),
            )
            self._spawn(self.deliver_digest(sub, due, late=True))
