"""Live updates: a material development of a story posted into the story's thread where the
channel was briefed on it, as the poller stores it - and nothing for a syndicated copy or a
rewording. Real feed server, real store, the fake Slack server, the scheduler's own poller
and deliverer (driven with an explicit clock instead of waiting for its jobs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.slack.app import make_web_client
from bot.adapters.slack.outbox import SlackOutbox
from bot.app import build_service
from bot.config import Settings, load_settings, save_topics
from bot.domain import (
    Channel,
    DeliveryKind,
    DeliveryState,
    Platform,
    StoryStatus,
    Subscription,
    Topic,
)
from bot.scheduler.runner import DigestScheduler
from bot.service import BriefingService
from tests.fakes.http import FakeHTTPServer
from tests.fakes.news import Item, html_paragraphs, rss, serve_feed
from tests.fakes.slack import FakeSlack

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
CHANNEL = Channel(Platform.SLACK, "C0LIVE00001", "desk", "T0FAKETEAM1")

FIRST = [
    "Dockworkers at the port of Calder walked out on Monday in a dispute over pay, halting "
    "container traffic at the busiest harbour on the coast.",
    "The Calder Dockers Union said the strike by its 2,000 members would go on until the "
    "port authority improved its offer of a 3 percent rise.",
]
# The same report under another outlet's name: a syndicated copy.
COPY = FIRST
# A new, independent report on the same strike, with a fact no one had reported.
SECOND = [
    "The strike at the port of Calder left 40 container ships waiting at anchor on Tuesday, "
    "the port authority said, as dockworkers kept up their walkout over pay.",
    "The Calder Dockers Union said its members would not return before a better offer.",
]
# Another independent report, an hour's worth of news later.
THIRD = [
    "Calder port authority managers met the Calder Dockers Union on Wednesday and offered a "
    "5 percent rise, the first new offer since the dockworkers' strike began.",
]


def item(title: str, url: str, paragraphs: list[str], published: datetime) -> Item:
    return Item(title, url, content=html_paragraphs(paragraphs), published=published)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    """The deployment under test."""

    service: BriefingService
    scheduler: DigestScheduler
    feeds: FakeHTTPServer
    slack: FakeSlack
    clock: Clock
    subscription: Subscription
    items: list[Item]

    def publish(self, *new: Item) -> None:
        self.items.extend(new)
        serve_feed(self.feeds, "/calder.xml", rss(self.items))

    async def poll(self, after: timedelta) -> None:
        self.clock.now += after
        assert self.scheduler.poller is not None
        await self.scheduler.poller.poll_due(self.clock.now)

    async def briefed(self) -> dict[str, Any]:
        """The first report polled, and the channel's digest of it posted: the message
        whose thread live updates go into."""
        self.publish(item("Calder dockworkers strike", "https://harbor.example/calder", FIRST, T0))
        await self.poll(timedelta(0))
        await self.scheduler.deliver_digest(self.subscription, T0 + timedelta(minutes=5))
        (first,) = self.slack.posted()
        return first

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return self.slack.posted(CHANNEL.external_id, thread_ts=ts)


@contextlib.asynccontextmanager
async def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> AsyncIterator[Desk]:
    feed = http_server.url("/calder.xml")
    topics = tmp_path / "topics.toml"
    save_topics(topics, {"calder": Topic("calder", query="calder", sources=[feed])})
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(topics))
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    monkeypatch.setenv("BRIEFBOT_GATHER_MAX_AGE", "1h")  # the poller keeps the feed fresh
    clock = Clock(T0)
    with FakeSlack() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("BRIEFBOT_SLACK_API_URL", slack.api_url)
        settings: Settings = load_settings()
        service = build_service(
            settings,
            database_url=f"sqlite:///{tmp_path / 'live.sqlite3'}",
            clock=clock,
            force_llm=False,
        )
        async with service:
            outbox = SlackOutbox(make_web_client(settings, retry_connections=False))
            scheduler = DigestScheduler(
                service, settings, {Platform.SLACK: outbox}, owner="test", clock=clock
            )
            subscription = await service.subscribe(
                CHANNEL,
                "calder",
                schedule="daily 08:00",
                timezone="UTC",
                created_by="U0ADMIN0001",
                updates="live",
            )
            yield Desk(service, scheduler, http_server, slack, clock, subscription, [])


async def test_a_copy_brings_no_update_and_a_new_independent_fact_goes_into_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    async with desk(tmp_path, monkeypatch, http_server) as d:
        d.publish(item("Calder dockworkers strike", "https://harbor.example/calder", FIRST, T0))
        await d.poll(timedelta(0))
        assert d.slack.posted() == []  # the channel was never briefed: nothing to update
        digest = await d.scheduler.deliver_digest(d.subscription, T0 + timedelta(minutes=5))
        assert digest.state is DeliveryState.COMPLETED
        assert digest.message_id is not None
        (first,) = d.slack.posted()

        d.publish(item("Calder strike (wire)", "https://coastnews.example/calder", COPY, T0))
        await d.poll(timedelta(minutes=10))
        assert len(d.slack.posted()) == 1  # the syndicated copy: no update

        d.publish(
            item(
                "Ships wait as Calder strike holds",
                "https://northpost.example/calder-ships",
                SECOND,
                T0 + timedelta(minutes=15),
            )
        )
        await d.poll(timedelta(minutes=10))

        (update,) = d.thread(first["ts"])  # into the digest's thread, nowhere else
        assert len(d.slack.posted()) == 2
        assert "40 container ships" in str(update["blocks"])
        assert "northpost" in str(update["blocks"]).lower()
        assert "Update" in update["text"]
        assert update["metadata"]["event_payload"]["key"].startswith(f"update:{d.subscription.id}:")
        assert d.subscription.id is not None
        updates = [
            delivery
            for delivery in d.service.store.deliveries.of_subscription(d.subscription.id)
            if delivery.kind is DeliveryKind.UPDATE
        ]
        assert [u.state for u in updates] == [DeliveryState.COMPLETED]
        assert updates[0].thread_id == first["ts"]

        # The update counts as seen: the next digest has no new points for this channel.
        again = await d.service.digest(d.subscription, slot_at=d.clock.now)
        assert {story.status for story in again.stories} == {StoryStatus.SEEN}


async def test_one_update_per_story_and_channel_an_hour_and_a_rewording_is_not_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    async with desk(tmp_path, monkeypatch, http_server) as d:
        first = await d.briefed()
        d.publish(
            item("Ships wait", "https://northpost.example/ships", SECOND, T0 + timedelta(minutes=9))
        )
        await d.poll(timedelta(minutes=10))
        assert len(d.thread(first["ts"])) == 1

        d.publish(
            item("New offer", "https://bayherald.example/offer", THIRD, T0 + timedelta(minutes=19))
        )
        await d.poll(timedelta(minutes=10))
        assert len(d.thread(first["ts"])) == 1  # held back: one an hour

        reworded = [
            "Forty container ships were left waiting at anchor off Calder on Tuesday because "
            "of the dockworkers' strike, the port authority said."
        ]
        d.publish(
            item(
                "Calder ships at anchor",
                "https://gazette.example/calder",
                reworded,
                T0 + timedelta(hours=2),
            )
        )
        await d.poll(timedelta(hours=2))
        texts = [str(m["blocks"]) for m in d.thread(first["ts"])]
        assert len(texts) == 1  # the rewording of a reported fact is not news
        assert not any("Forty container ships" in text for text in texts)


async def test_a_live_update_left_by_a_crash_is_completed_if_posted_and_failed_if_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    async with desk(tmp_path, monkeypatch, http_server) as d:
        first = await d.briefed()
        (story_id,) = {
            s.story_id for s in (await d.service.digest(d.subscription, slot_at=T0)).stories
        }
        sub_id = d.subscription.id
        assert sub_id is not None
        store = d.service.store.deliveries
        posted_key, lost_key = (
            f"update:{sub_id}:{story_id}:aaaa",
            f"update:{sub_id}:{story_id}:bbbb",
        )
        for key in (posted_key, lost_key):  # claimed by a process that then died
            store.claim(sub_id, DeliveryKind.UPDATE, key, d.clock.now, "dead", story_id=story_id)
        outbox = d.scheduler.deliverer.outboxes[Platform.SLACK]
        update = await d.service.digest(d.subscription, slot_at=T0)
        await outbox.post(CHANNEL, update, posted_key, thread_id=first["ts"])  # it got out

        await d.scheduler.recover()
        await d.scheduler.idle()

        states = {
            u.slot_key: u for u in store.of_subscription(sub_id) if u.kind is DeliveryKind.UPDATE
        }
        assert states[posted_key].state is DeliveryState.COMPLETED
        assert states[posted_key].message_id == d.thread(first["ts"])[0]["ts"]
        assert states[lost_key].state is DeliveryState.FAILED
        assert states[lost_key].error is not None
        assert "next digest" in states[lost_key].error
        assert len(d.thread(first["ts"])) == 1  # nothing posted again
