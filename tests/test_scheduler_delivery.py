"""The deliverer and the scheduler's recovery, in one process against the fake Slack
server: a platform that is down is retried until it answers (posting once), a refusal that
will not pass fails the delivery with the fix, the grace period ends the retries, a quiet
digest with nothing new posts nothing, and a restart delivers only the latest missed slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.slack.app import make_web_client
from bot.adapters.slack.outbox import SlackOutbox
from bot.chat.schedule import parse_schedule
from bot.config import load_settings
from bot.demo import demo_sources
from bot.domain import Channel, DeliveryKind, DeliveryState, Platform, Subscription
from bot.scheduler.deliver import Deliverer
from bot.scheduler.runner import DigestScheduler
from bot.scheduler.trigger import slot_key
from bot.service import BriefingService
from tests.fakes.chat import chat_service
from tests.fakes.slack import FakeSlack

CHANNEL = Channel(Platform.SLACK, "C0DIGEST002", "desk", "T0FAKETEAM1")
NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)  # the day after the demo news's last report
SLOT = NOW - timedelta(minutes=5)


@dataclass
class Clock:
    now: datetime
    waits: list[float] = field(default_factory=list)
    slept: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """The deliverer's backoff, taken on this clock instead of the wall clock."""
        self.waits.append(seconds)
        self.slept.set()
        self.now += timedelta(seconds=seconds)


@dataclass
class Desk:
    service: BriefingService
    outbox: SlackOutbox
    slack: FakeSlack
    clock: Clock

    def deliverer(self) -> Deliverer:
        return Deliverer(
            self.service,
            {Platform.SLACK: self.outbox},
            owner="test",
            grace=timedelta(hours=2),
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    async def subscribe(self, schedule: str = "daily 08:00", **options: str) -> Subscription:
        return await self.service.subscribe(
            CHANNEL, "port-strike", schedule=schedule, timezone="UTC", created_by="U1", **options
        )

    async def digest(self, sub: Subscription, slot: datetime = SLOT) -> Any:
        async def build() -> Any:
            return await self.service.digest(sub, slot_at=slot)

        assert sub.id is not None
        return await self.deliverer().deliver(
            sub, DeliveryKind.DIGEST, slot_key(sub.id, slot), slot, build
        )

    def posts(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.posted(CHANNEL.external_id) if m.get("metadata")]


@pytest.fixture
async def desk(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Desk]:
    monkeypatch.setenv("BRIEFBOT_SINCE", "3650d")  # the demo news's fixed dates
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack.api_url)
        async with chat_service(tmp_path, monkeypatch, "delivery", now=NOW) as service:
            gathered = await service.gather(demo_sources())
            await service.ingest_articles(gathered.articles)
            outbox = SlackOutbox(make_web_client(load_settings(), retry_connections=False))
            yield Desk(service, outbox, slack, Clock(NOW))


async def test_a_platform_that_is_down_is_retried_with_backoff_and_posts_once(
    desk: Desk,
) -> None:
    sub = await desk.subscribe()
    desk.slack.fail_next_with_status("chat.postMessage", 503, times=2)

    outcome = await desk.digest(sub)

    assert outcome.state is DeliveryState.COMPLETED
    assert len(desk.clock.waits) == 2
    assert desk.clock.waits[1] > desk.clock.waits[0]  # exponential
    (posted,) = desk.posts()
    assert outcome.message_id == posted["ts"]
    # Before each new post it looked: a lost answer might have hidden a post.
    assert len(desk.slack.calls_to("conversations.history")) == 2


async def test_a_refusal_that_will_not_pass_fails_the_delivery_naming_the_fix(
    desk: Desk,
) -> None:
    sub = await desk.subscribe()
    desk.slack.fail_next("chat.postMessage", "not_in_channel")

    outcome = await desk.digest(sub)

    assert outcome.state is DeliveryState.FAILED
    assert outcome.error is not None
    assert "/invite" in outcome.error
    assert desk.clock.waits == []
    assert sub.id is not None
    (record,) = desk.service.store.deliveries.of_subscription(sub.id)
    assert (record.state, record.error) == (DeliveryState.FAILED, outcome.error)
    assert desk.posts() == []


async def test_the_grace_period_ends_the_retries(desk: Desk) -> None:
    sub = await desk.subscribe()
    desk.slack.fail_next_with_status("chat.postMessage", 503, times=1000)

    outcome = await desk.digest(sub)

    assert outcome.state is DeliveryState.FAILED
    assert outcome.error is not None
    assert "grace period" in outcome.error
    assert desk.clock.now - SLOT <= timedelta(hours=2)  # gave up before the grace ended
    assert len(desk.clock.waits) >= 5
    assert desk.posts() == []


async def test_a_quiet_digest_with_nothing_new_posts_nothing_and_a_default_one_posts_a_line(
    desk: Desk,
) -> None:
    quiet = await desk.subscribe(nothing_new="silent")
    assert (await desk.digest(quiet)).state is DeliveryState.COMPLETED
    later = SLOT + timedelta(days=1)

    again = await desk.digest(quiet, later)

    assert again.state is DeliveryState.SKIPPED
    assert len(desk.posts()) == 1
    loud = await desk.subscribe(nothing_new="line")  # the same channel and topic, changed
    line = await desk.digest(loud, later + timedelta(days=1))
    assert line.state is DeliveryState.COMPLETED
    last = desk.posts()[-1]
    assert "Nothing new" in last["text"]
    assert len(last["blocks"]) <= 2


async def test_a_restart_delivers_the_latest_missed_slot_late_and_skips_older_ones(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    hourly = await desk.subscribe("every 1h")
    assert hourly.id is not None
    with desk.service.store.db.transaction("backdate") as session:  # made three days ago
        from bot.store.models import SubscriptionRow

        row = session.get(SubscriptionRow, hourly.id)
        assert row is not None
        row.created_at = NOW - timedelta(days=3)
    settings = load_settings().model_copy(update={"digest_grace": "2h"})
    scheduler = DigestScheduler(
        desk.service,
        settings,
        {Platform.SLACK: desk.outbox},
        owner="restarted",
        clock=desk.clock,
        poll=False,
    )

    with caplog.at_level(logging.INFO, logger="bot.scheduler.runner"):
        await scheduler.recover()
        await scheduler.idle()

    (record,) = desk.service.store.deliveries.of_subscription(hourly.id)
    latest = NOW.replace(minute=0, second=0, microsecond=0)
    assert record.slot_at == latest.astimezone(UTC)
    assert record.late
    assert record.state is DeliveryState.COMPLETED
    assert len(desk.posts()) == 1
    assert "skipping 71 missed digest(s)" in caplog.text

    await scheduler.recover()  # a second restart: nothing missed any more
    await scheduler.idle()
    assert len(desk.posts()) == 1


async def test_a_subscription_made_in_this_process_gets_its_job_at_once(desk: Desk) -> None:
    settings = load_settings().model_copy(update={"subscription_sync": 3600.0})
    scheduler = DigestScheduler(
        desk.service, settings, {Platform.SLACK: desk.outbox}, owner="me", poll=False
    )
    await scheduler.start()
    try:
        sub = await desk.subscribe("mon-fri 08:00")
        assert sub.id is not None
        await scheduler.idle()
        expected = parse_schedule("mon-fri 08:00").next_after(datetime.now(UTC), ZoneInfo("UTC"))
        assert scheduler.next_run(sub.id) == expected

        await desk.service.unsubscribe(CHANNEL, "port-strike")
        await scheduler.idle()
        assert scheduler.next_run(sub.id) is None
    finally:
        await scheduler.stop(1.0)


async def test_a_subscription_read_only_after_its_slot_passed_gets_that_slot_late(
    desk: Desk,
) -> None:
    """Made on another replica just before its slot, and read here only after it: the
    slot is not skipped until tomorrow."""
    settings = load_settings().model_copy(update={"subscription_sync": 3600.0})
    scheduler = DigestScheduler(
        desk.service, settings, {Platform.SLACK: desk.outbox}, owner="me", poll=False
    )
    await scheduler.start()
    try:
        slot = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
        made = desk.service.store.subscriptions.upsert(  # as another process writes it
            Subscription(
                CHANNEL,
                "port-strike",
                f"daily {slot:%H:%M}",
                "UTC",
                "U1",
                slot - timedelta(minutes=1),
            )
        )
        assert made.id is not None
        await scheduler.sync()
        await scheduler.idle()
        (record,) = desk.service.store.deliveries.of_subscription(made.id)
        assert record.slot_at == slot
        assert record.state is DeliveryState.COMPLETED
        assert record.late
        await scheduler.sync()  # read again: nothing more
        await scheduler.idle()
        assert len(desk.service.store.deliveries.of_subscription(made.id)) == 1
    finally:
        await scheduler.stop(1.0)


async def test_a_post_stored_but_never_answered_is_found_not_repeated_and_keeps_its_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, topics_file: Path
) -> None:
    monkeypatch.setenv("BRIEFBOT_HTTP_TIMEOUT", "1")  # the hung answer times out quickly
    monkeypatch.setenv("BRIEFBOT_SINCE", "3650d")
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack.api_url)
        async with chat_service(tmp_path, monkeypatch, "hung", now=NOW) as service:
            await service.ingest_articles((await service.gather(demo_sources())).articles)
            outbox = SlackOutbox(make_web_client(load_settings(), retry_connections=False))
            desk = Desk(service, outbox, slack, Clock(NOW))
            sub = await desk.subscribe()
            slack.hold_posts("after_store")  # stored, the answer withheld

            delivering = asyncio.ensure_future(desk.digest(sub))
            await slack.wait_for_held(1, timeout=20)
            # The client gives up on the answer: the retry waits (on the test's clock).
            await asyncio.wait_for(desk.clock.slept.wait(), timeout=20)
            slack.release()
            outcome = await asyncio.wait_for(delivering, timeout=30)

            assert outcome.state is DeliveryState.COMPLETED
            assert outcome.recovered  # found by its key, not posted again
            (posted,) = desk.posts()
            assert outcome.message_id == posted["ts"]
            stories = await service.thread_stories(CHANNEL, posted["ts"])
            assert stories  # the post is recorded with the stories it carried
