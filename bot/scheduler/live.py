"""Live updates: a material development of a story a channel was briefed on, posted into
that story's thread in the channel as the poller stores it.

After each poll that stored new articles, for every subscription with ``updates: live``
whose channel has a post carrying one of the touched stories, the story's material
developments (``BriefingService.development``: a new independent report with a key point
no earlier briefing had) go into that post's thread, at most one update per channel and
story every ``BRIEFBOT_LIVE_UPDATE_INTERVAL``. Each update is a delivery like a digest
slot, keyed by the story and its new points, so it too is posted once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.domain import Briefing, DeliveryKind, Subscription, utcnow
from bot.scheduler.deliver import Deliverer, Outcome
from bot.service import BriefingService, IngestResult

log = logging.getLogger(__name__)


def update_key(subscription_id: int, story_id: str, briefing: Briefing) -> str:
    """The delivery key of a live update: the subscription, the story and a hash of its
    new points."""
    texts = "\n".join(point.text for story in briefing.stories for point in story.key_points)
    digest = hashlib.sha256(texts.encode("utf-8")).hexdigest()[:16]
    return f"update:{subscription_id}:{story_id}:{digest}"


class LiveUpdates:
    """Turns what a poll stored into live updates for the subscribed channels."""

    def __init__(
        self,
        service: BriefingService,
        deliverer: Deliverer,
        *,
        interval: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.service = service
        self.deliverer = deliverer
        self.interval = interval
        self.clock = clock
        self._lock = asyncio.Lock()  # one batch at a time: the rate limit reads, then writes

    async def on_ingested(self, result: IngestResult) -> list[Outcome]:
        """Post the live updates that ``result`` (a poll's ingest) brings."""
        report = result.report
        new_ids = {article.id for article in report.new_articles if article.id is not None}
        touched = sorted(report.touched_stories | set(report.new_stories))
        if not new_ids or not touched:
            return []
        live = [sub for sub in await self.service.subscriptions() if sub.updates == "live"]
        if not live:
            return []
        outcomes = []
        async with self._lock:
            for sub in live:
                posts = await self.service.story_posts(sub.channel, touched)
                for story_id, post in posts.items():
                    outcome = await self._update(
                        sub, story_id, post.thread_id or post.message_id, new_ids
                    )
                    if outcome is not None:
                        outcomes.append(outcome)
        return outcomes

    async def _update(
        self,
        sub: Subscription,
        story_id: str,
        thread_id: str,
        new_ids: set[int],
    ) -> Outcome | None:
        assert sub.id is not None
        now = self.clock()
        last = await asyncio.to_thread(self.service.store.deliveries.last_update, sub.id, story_id)
        if last is not None and now - last < self.interval:
            log.info(
                "live update of story %s for %s held back: one was posted at %s",
                story_id,
                sub.channel.label,
                last.isoformat(),
            )
            return None
        update = await self.service.development(story_id, new_ids, sub.channel, sub.topic)
        if update is None:
            return None
        ready = update

        async def build() -> Briefing:
            return ready

        return await self.deliverer.deliver(
            sub,
            DeliveryKind.UPDATE,
            update_key(sub.id, story_id, update),
            now,
            build,
            story_id=story_id,
            thread_id=thread_id,
        )
