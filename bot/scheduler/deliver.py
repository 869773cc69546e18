"""Exactly-once delivery of one digest slot or live update.

The steps, each written to the delivery record (``bot.store.deliveries``) first:

1. **claim** ``(subscription, slot key)``. Done or claimed by someone alive: stop here.
2. A claim that took over an earlier attempt (``attempts > 1``: this process crashed, or
   the leader that claimed it died) first **looks the slot up on the platform**
   (``Outbox.find``: Slack message metadata, the Discord embed's reference): found means
   the earlier attempt posted it, so it is only completed.
3. **build** the digest (``BriefingService.digest``) and **prepare**: store the briefing and
   story ids it carries.
4. **post** it, marked with the slot key, and **complete** the record with the message id;
   the post is recorded so a question in its thread is answered from its stories.

A platform that fails in a way that may pass (down, rate limits outlasting the SDK's
retries) is retried with exponential backoff and jitter, looking the slot up before each
new post, until the slot's grace period ends; then the delivery is marked failed. A refusal
that will not pass (the bot was removed from the channel) fails it at once, with the fix.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from bot.domain import (
    Briefing,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryState,
    Platform,
    PostedMessage,
    Subscription,
    utcnow,
)
from bot.errors import StoreError
from bot.redact import redact
from bot.scheduler.ports import DeliveryError, Outbox, Posted
from bot.service import BriefingService

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

FIND_MARGIN = timedelta(minutes=10)  # clocks of the bot and the platform may differ
_FIRST_RETRY = 2.0  # seconds
_MAX_RETRY = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended for this process."""

    state: DeliveryState | None  # None: someone else has it, or it was done before
    message_id: str | None = None
    recovered: bool = False  # found on the platform: an earlier attempt had posted it
    error: str | None = None


class Deliverer:
    """Delivers slots and updates through the platforms' outboxes, once each."""

    def __init__(
        self,
        service: BriefingService,
        outboxes: Mapping[Platform, Outbox],
        *,
        owner: str,
        grace: timedelta,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self.outboxes = dict(outboxes)
        self.owner = owner
        self.grace = grace
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        # SQLite has one writer at a time, and a writer that finds the database locked
        # polls with sleeps of up to 100 ms (SQLite's busy handler): 16 deliveries writing
        # at once from the worker threads spent most of their time asleep there (10,000
        # digests of one minute took about 6 minutes). The deliveries' writes take turns on
        # this lock instead. PostgreSQL writes concurrently: no lock.
        self._write_lock = threading.Lock() if service.store.db.dialect == "sqlite" else None

    async def _write(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)``, a store write, in a worker thread (on SQLite, one of
        the deliveries' writes at a time)."""
        lock = self._write_lock
        if lock is None:
            return await asyncio.to_thread(work, *args, **kwargs)

        def locked() -> T:
            with lock:
                return work(*args, **kwargs)

        return await asyncio.to_thread(locked)

    async def deliver(
        self,
        subscription: Subscription,
        kind: DeliveryKind,
        key: str,
        slot_at: datetime,
        build: Callable[[], Awaitable[Briefing]],
        *,
        late: bool = False,
        take_over: bool = False,
        story_id: str | None = None,
        thread_id: str | None = None,
    ) -> Outcome:
        """Claim, build, post and complete one delivery (see the module docstring)."""
        assert subscription.id is not None
        channel = subscription.channel
        outbox = self.outboxes.get(channel.platform)
        if outbox is None:
            log.warning(
                "%s %s of %s: %s is not connected; it waits for the platform",
                kind,
                key,
                channel.label,
                channel.platform,
            )
            return Outcome(None)
        store = self.service.store.deliveries
        try:
            delivery = await self._write(
                store.claim,
                subscription.id,
                kind,
                key,
                slot_at,
                self.owner,
                late=late,
                story_id=story_id,
                take_over=take_over,
            )
        except StoreError as exc:  # e.g. the subscription was removed a moment ago
            log.warning("%s %s of %s not claimed: %s", kind, key, channel.label, redact(str(exc)))
            return Outcome(None)
        if delivery is None:
            return Outcome(None)
        return await self._run(delivery, subscription, outbox, build, thread_id)

    async def _run(
        self,
        delivery: Delivery,
        subscription: Subscription,
        outbox: Outbox,
        build: Callable[[], Awaitable[Briefing]],
        thread_id: str | None,
    ) -> Outcome:
        assert delivery.id is not None
        store = self.service.store.deliveries
        channel = subscription.channel
        deadline = delivery.slot_at + self.grace
        briefing: Briefing | None = None
        attempt = 0
        may_have_posted = delivery.attempts > 1
        while True:
            try:
                if may_have_posted:
                    found = await outbox.find(
                        channel,
                        delivery.slot_key,
                        delivery.slot_at - FIND_MARGIN,
                        thread_id=thread_id,
                    )
                    if found is not None:
                        log.info(
                            "%s %s of %s was posted before (%s): completing it",
                            delivery.kind,
                            delivery.slot_key,
                            channel.label,
                            found.message_id,
                        )
                        # This process's own earlier attempt built it (``briefing``); after
                        # a crash the prepared ids in the record say what it carried.
                        await self._complete(delivery, channel, found, briefing)
                        return Outcome(DeliveryState.COMPLETED, found.message_id, recovered=True)
                if briefing is None:
                    briefing = await build()
                    if (
                        delivery.kind is DeliveryKind.DIGEST
                        and briefing.nothing_new
                        and subscription.nothing_new == "silent"
                    ):
                        await self._write(
                            store.finish, delivery.id, self.owner, DeliveryState.SKIPPED, None
                        )
                        log.info(
                            "digest %s of %s: nothing new, silent", delivery.slot_key, channel.label
                        )
                        return Outcome(DeliveryState.SKIPPED)
                    await self._write(
                        store.prepare,
                        delivery.id,
                        self.owner,
                        briefing.saved_ids,
                        [story.story_id for story in briefing.stories],
                    )
                may_have_posted = True  # from here on, a failure may hide a post
                posted = await outbox.post(
                    channel, briefing, delivery.slot_key, thread_id=thread_id
                )
            except DeliveryError as exc:
                message = redact(str(exc))
                wait = self._backoff(attempt, exc.retry_after)
                if exc.retryable and self.clock() + timedelta(seconds=wait) < deadline:
                    log.warning(
                        "%s %s of %s failed (attempt %d), retrying in %.0f s: %s",
                        delivery.kind,
                        delivery.slot_key,
                        channel.label,
                        attempt + 1,
                        wait,
                        message,
                    )
                    attempt += 1
                    await self.sleep(wait)
                    continue
                reason = (
                    message
                    if not exc.retryable
                    else f"gave up at the grace period's end: {message}"
                )
                log.error(
                    "%s %s of %s failed: %s",
                    delivery.kind,
                    delivery.slot_key,
                    channel.label,
                    reason,
                )
                await self._write(
                    store.finish, delivery.id, self.owner, DeliveryState.FAILED, reason
                )
                return Outcome(DeliveryState.FAILED, error=reason)
            except Exception as exc:  # a bug or the store: nothing is posted; say why
                log.exception(
                    "%s %s of %s could not be built",
                    delivery.kind,
                    delivery.slot_key,
                    channel.label,
                )
                reason = redact(f"could not build it: {type(exc).__name__}: {exc}")
                await self._write(
                    store.finish, delivery.id, self.owner, DeliveryState.FAILED, reason
                )
                return Outcome(DeliveryState.FAILED, error=reason)
            await self._complete(delivery, channel, posted, briefing)
            log.info(
                "%s %s delivered to %s as %s%s",
                delivery.kind,
                delivery.slot_key,
                channel.label,
                posted.message_id,
                " (late)" if delivery.late else "",
            )
            return Outcome(DeliveryState.COMPLETED, posted.message_id)

    async def settle(
        self, subscription: Subscription, left: Delivery, *, thread_id: str | None
    ) -> Outcome:
        """A delivery a crash left claimed that cannot be built again (a live update: the
        articles that made it are no longer new): taken over, then completed if the
        platform has it, otherwise marked failed, so its points stay new for the channel's
        next digest."""
        assert subscription.id is not None
        outbox = self.outboxes.get(subscription.channel.platform)
        if outbox is None:
            return Outcome(None)
        store = self.service.store.deliveries
        delivery = await self._write(
            store.claim,
            subscription.id,
            left.kind,
            left.slot_key,
            left.slot_at,
            self.owner,
            take_over=True,
        )
        if delivery is None or delivery.id is None:
            return Outcome(None)
        try:
            found = await outbox.find(
                subscription.channel,
                delivery.slot_key,
                delivery.slot_at - FIND_MARGIN,
                thread_id=thread_id,
            )
        except DeliveryError as exc:
            found, reason = None, redact(str(exc))
        else:
            reason = "interrupted before it was posted; the next digest carries its points"
        if found is not None:
            await self._complete(delivery, subscription.channel, found, None)
            return Outcome(DeliveryState.COMPLETED, found.message_id, recovered=True)
        await self._write(store.finish, delivery.id, self.owner, DeliveryState.FAILED, reason)
        return Outcome(DeliveryState.FAILED, error=reason)

    async def _complete(
        self,
        delivery: Delivery,
        channel: Channel,
        posted: Posted,
        briefing: Briefing | None,
    ) -> None:
        assert delivery.id is not None
        briefing_ids = list(briefing.saved_ids) if briefing is not None else delivery.briefing_ids
        story_ids = (
            [story.story_id for story in briefing.stories]
            if briefing is not None
            else delivery.story_ids
        )
        # The completion and the record of the post: one transaction (one turn of the
        # SQLite write lock, and no crash can fall between them).
        await self._write(
            self.service.store.deliveries.complete,
            delivery.id,
            self.owner,
            posted.message_id,
            posted.thread_id,
            posted=PostedMessage(
                channel=channel,
                message_id=posted.message_id,
                thread_id=posted.thread_id,
                briefing_ids=briefing_ids,
                story_ids=story_ids,
                posted_at=self.service.clock(),
            ),
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next try: exponential with full jitter, at least what the
        platform asked for."""
        ceiling = min(_MAX_RETRY, _FIRST_RETRY * 2**attempt)
        wait = self.rng.uniform(ceiling / 2, ceiling)
        return max(wait, retry_after or 0.0)
