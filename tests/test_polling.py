"""Polling each source on its own schedule (``bot.scheduler.polling``): conditional GET,
health, backoff with jitter, one poll per shared source, the live-update hook, and the
fetcher's per-host politeness - against real feed servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import build_service
from bot.config import Settings, load_settings, save_topics
from bot.domain import SourceHealth, Topic
from bot.scheduler.polling import (
    MIN_RETRY,
    POLL_JOB,
    POLL_TICK,
    Poller,
    PollOutcome,
    PollRound,
    health_report,
)
from bot.service import BriefingService, IngestResult
from bot.sources.gather import gather
from bot.store import Store
from bot.store.topics import ADDED
from tests.fakes.chat import NOW
from tests.fakes.http import FakeHTTPServer, Recorded, Reply
from tests.fakes.news import (
    FLOOD_PARAGRAPHS,
    RSS_TYPE,
    STRIKE_PARAGRAPHS,
    Item,
    article_page,
    conditional,
    html_paragraphs,
    rss,
    serve_feed,
    teaser,
)
from tests.fakes.postgres import postgres_server  # noqa: F401  (fixture)

MINUTE = timedelta(minutes=1)


def full_feed(base: str, tag: str = "") -> str:
    """Two items with their full texts (no page fetches), links unique per ``tag``."""
    return rss(
        [
            Item(
                "Calder strike day three",
                f"{base}/strike{tag}",
                content=html_paragraphs(STRIKE_PARAGRAPHS),
            ),
            Item(
                "River Aire floods",
                f"{base}/flood{tag}",
                content=html_paragraphs(FLOOD_PARAGRAPHS),
            ),
        ]
    )


def refused_url() -> str:
    """A URL on a 127.0.0.1 port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


class HighestDraw(random.Random):
    """Always draws the top of the range: the backoff without its jitter."""

    def random(self) -> float:
        return 1.0


@contextlib.asynccontextmanager
async def polling_service(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    topics: dict[str, list[str]],
    **env: str,
) -> AsyncIterator[tuple[BriefingService, Settings]]:
    """A service over temporary SQLite with ``topics`` in its topics file and the clock
    stopped at ``NOW``; ``env`` are more settings (``BRIEFBOT_POLL_INTERVAL="10m"``)."""
    path = tmp_path / "topics.toml"
    save_topics(path, {name: Topic(name, sources=list(specs)) for name, specs in topics.items()})
    monkeypatch.setenv("BRIEFBOT_TOPICS_FILE", str(path))
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    service = build_service(
        settings,
        database_url=f"sqlite:///{tmp_path / 'poll.sqlite3'}",
        clock=lambda: NOW,
        force_llm=False,
    )
    async with service:
        yield service, settings


def outcome_of(done: PollRound, source: str) -> PollOutcome:
    (found,) = [outcome for outcome in done.outcomes if outcome.source == source]
    return found


def requests_to(server: FakeHTTPServer, path: str) -> list[Recorded]:
    return [request for request in server.requests if request.path == path]


async def test_a_second_poll_sends_the_validators_and_a_304_counts_as_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    etag, modified = '"ledger-41"', "Fri, 20 Nov 2026 14:31:00 GMT"
    http_server.route(
        "GET", "/rss", conditional(full_feed("https://l.example"), etag, modified, RSS_TYPE)
    )
    url = http_server.url("/rss")
    async with polling_service(tmp_path, monkeypatch, {"harbour": [url]}) as (service, settings):
        poller = Poller(service, settings)

        first = await poller.poll_due()
        (fetched,) = first.outcomes
        assert (fetched.ok, fetched.gathered, fetched.new_articles) == (True, 2, 2)
        assert fetched.health.next_poll_at == NOW + timedelta(minutes=15)
        assert "If-None-Match" not in http_server.requests[0].headers

        early = await poller.poll_due(NOW + 14 * MINUTE)
        assert (early.outcomes, early.waiting) == ([], 1)

        second = await poller.poll_due(NOW + 15 * MINUTE)
        (unchanged,) = second.outcomes
        conditional_get = http_server.requests[-1].headers
        assert conditional_get["If-None-Match"] == etag
        assert conditional_get["If-Modified-Since"] == modified
        assert len(http_server.requests) == 2
        assert (unchanged.ok, unchanged.gathered, unchanged.new_articles) == (True, 0, 0)
        health = unchanged.health
        assert health.last_success_at == NOW + 15 * MINUTE
        assert health.consecutive_failures == 0
        assert health.last_error is None
        assert health.next_poll_at == NOW + 30 * MINUTE


async def test_a_failing_feed_backs_off_exponentially_up_to_the_cap_and_success_resets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    http_server.route("GET", "/broken", Reply(500, "oops", {"Content-Type": "text/plain"}))
    broken = http_server.url("/broken")
    good = serve_feed(http_server, "/good", full_feed("https://l.example"))
    topics = {"harbour": [broken, good]}
    env = {"BRIEFBOT_POLL_INTERVAL": "10m", "BRIEFBOT_POLL_MAX_BACKOFF": "1h"}
    async with polling_service(tmp_path, monkeypatch, topics, **env) as (service, settings):
        poller = Poller(service, settings, random=HighestDraw())
        at, delays, failures = NOW, [], []
        for _ in range(5):
            done = await poller.poll_due(at)
            health = outcome_of(done, broken).health
            failures.append(health.consecutive_failures)
            assert health.next_poll_at is not None
            delays.append(health.next_poll_at - at)
            at = health.next_poll_at
        assert failures == [1, 2, 3, 4, 5]
        assert delays == [m * MINUTE for m in (10, 20, 40, 60, 60)]
        assert health.last_error == f"HTTP 500 Internal Server Error from {broken}"
        assert health.last_success_at is None

        # The good feed was polled on its own interval all along.
        assert len(requests_to(http_server, "/good")) > 1
        good_health = (await health_by_source(service))[good]
        assert good_health.consecutive_failures == 0
        assert good_health.last_success_at is not None

        serve_feed(http_server, "/broken", full_feed("https://l.example", "-2"))
        recovered = outcome_of(await poller.poll_due(at), broken)
    assert recovered.ok
    assert recovered.health.consecutive_failures == 0
    assert recovered.health.last_success_at == at
    assert recovered.health.next_poll_at == at + 10 * MINUTE
    assert recovered.health.last_error_at is not None  # the last error stays on record


async def health_by_source(service: BriefingService) -> dict[str, SourceHealth]:
    return {tracked.source: health for tracked, health in await health_report(service)}


async def test_every_broken_feed_is_recorded_with_its_cause_and_the_others_still_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    http_server.route("GET", "/500", Reply(500, "oops", {"Content-Type": "text/plain"}))
    server_error = http_server.url("/500")
    garbage = serve_feed(http_server, "/garbage", '<rss version="2.0"><channel><<<>>>')
    refused = refused_url()
    good = serve_feed(http_server, "/good", full_feed("https://l.example"))
    topics = {"harbour": [server_error, garbage, refused, good]}
    env = {"BRIEFBOT_POLL_INTERVAL": "10m", "BRIEFBOT_POLL_MAX_BACKOFF": "1h"}
    async with polling_service(tmp_path, monkeypatch, topics, **env) as (service, settings):
        poller = Poller(service, settings, random=random.Random(12))
        done = await poller.poll_due()

    assert len(done.outcomes) == 4
    assert {o.source for o in done.failed} == {server_error, garbage, refused}
    assert outcome_of(done, good).new_articles == 2
    errors = {o.source: o.health.last_error or "" for o in done.failed}
    assert errors[server_error].startswith("HTTP 500 Internal Server Error from")
    assert "malformed XML" in errors[garbage]
    assert errors[refused].endswith("connection refused")
    for outcome in done.failed:
        assert outcome.health.consecutive_failures == 1
        assert outcome.health.next_poll_at is not None
        delay = outcome.health.next_poll_at - NOW
        assert MIN_RETRY <= delay <= 10 * MINUTE  # the first backoff: at most one interval


async def test_the_jitter_comes_from_the_injected_random_within_the_floor_and_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"BRIEFBOT_POLL_INTERVAL": "5m", "BRIEFBOT_POLL_MAX_BACKOFF": "2h"}
    async with polling_service(tmp_path, monkeypatch, {}, **env) as (service, settings):
        one = Poller(service, settings, random=random.Random(3))
        other = Poller(service, settings, random=random.Random(3))
        delays = [one.next_poll(NOW, n) - NOW for n in range(1, 12)]
        again = [other.next_poll(NOW, n) - NOW for n in range(1, 12)]
    caps = [min(timedelta(hours=2), 5 * MINUTE * 2 ** (n - 1)) for n in range(1, 12)]
    assert delays == again
    assert all(MIN_RETRY <= delay <= cap for delay, cap in zip(delays, caps, strict=True))
    assert any(delay < cap for delay, cap in zip(delays, caps, strict=True))  # jittered
    assert max(delays) > 5 * MINUTE  # and it grows


async def test_a_source_of_two_topics_is_polled_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    shared = serve_feed(http_server, "/shared", full_feed("https://l.example"))
    own = serve_feed(http_server, "/own", full_feed("https://l.example", "-own"))
    topics = {"harbour": [shared], "ports": [own, shared]}
    async with polling_service(tmp_path, monkeypatch, topics) as (service, settings):
        done = await Poller(service, settings).poll_due()
        report = {tracked.source: tracked.topics for tracked, _ in await health_report(service)}

    assert len(done.outcomes) == 2
    assert len(requests_to(http_server, "/shared")) == 1
    assert report == {shared: ["harbour", "ports"], own: ["ports"]}


async def test_a_feed_added_from_chat_is_polled_from_public_addresses_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    chat_feed = serve_feed(http_server, "/chat", full_feed("https://l.example"))
    async with polling_service(tmp_path, monkeypatch, {"harbour": []}) as (service, settings):
        await asyncio.to_thread(service.store.topic_sources.set, "harbour", chat_feed, ADDED, "U1")
        done = await Poller(service, settings).poll_due()

    (refused,) = done.outcomes
    assert not refused.ok
    assert "refused to fetch" in (refused.error or "")
    assert http_server.requests == []


async def test_on_ingested_gets_each_poll_that_stored_news_and_its_failure_stops_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    http_server: FakeHTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    urls = []
    for name in ("one", "two"):
        body = full_feed("https://l.example", f"-{name}")
        http_server.route("GET", f"/{name}", conditional(body, f'"{name}"', "", RSS_TYPE))
        urls.append(http_server.url(f"/{name}"))
    seen: list[IngestResult] = []

    async def on_ingested(result: IngestResult) -> None:
        seen.append(result)
        if len(seen) == 1:
            raise RuntimeError("the live-update code broke")

    async with polling_service(tmp_path, monkeypatch, {"harbour": urls}) as (service, settings):
        poller = Poller(service, settings, on_ingested=on_ingested)
        with caplog.at_level(logging.ERROR, logger="bot.scheduler.polling"):
            first = await poller.poll_due()
        second = await poller.poll_due(NOW + timedelta(minutes=15))  # both answer 304

    assert [outcome.ok for outcome in first.outcomes] == [True, True]
    assert sorted(len(result.report.new_articles) for result in seen) == [2, 2]
    assert "on_ingested callback failed" in caplog.text
    assert [outcome.gathered for outcome in second.outcomes] == [0, 0]
    assert len(seen) == 2  # nothing new: not called again


class Arrivals:
    """Requests as the servers saw them: ``(server, path, arrival time)``, and the most
    requests each server had in flight at once."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float]] = []
        self.peak: dict[str, int] = {}
        self._now: dict[str, int] = {}
        self._lock = threading.Lock()

    def serving(self, name: str, reply: Reply) -> Callable[[Recorded], Reply]:
        def handle(request: Recorded) -> Reply:
            with self._lock:
                self.seen.append((name, request.path, time.monotonic()))
                self._now[name] = self._now.get(name, 0) + 1
                self.peak[name] = max(self.peak.get(name, 0), self._now[name])
            time.sleep(0.02)  # widen the window in which an overlap would show
            with self._lock:
                self._now[name] -= 1
            return reply

        return handle

    def times(self, name: str) -> list[float]:
        return [at for server, _, at in self.seen if server == name]

    def paths(self, name: str) -> list[str]:
        return [path for server, path, _ in self.seen if server == name]


async def test_one_host_gets_one_request_at_a_time_spaced_by_the_host_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delay = 0.25
    seen = Arrivals()
    with FakeHTTPServer() as busy, FakeHTTPServer() as other:
        feeds = []
        for n in range(3):  # three feeds of one teaser item each, their pages on the same host
            item = Item(f"Strike report {n}", busy.url(f"/story{n}"), teaser(STRIKE_PARAGRAPHS))
            feed = Reply(200, rss([item]), {"Content-Type": RSS_TYPE})
            page = Reply(200, article_page(f"Strike report {n}", STRIKE_PARAGRAPHS), {})
            busy.route("GET", f"/feed{n}", seen.serving("busy", feed))
            busy.route("GET", f"/story{n}", seen.serving("busy", page))
            feeds.append(busy.url(f"/feed{n}"))
        body = Reply(200, full_feed("https://l.example", "-other"), {"Content-Type": RSS_TYPE})
        other.route("GET", "/feed", seen.serving("other", body))
        topics = {"harbour": [*feeds, other.url("/feed")]}
        env = {
            "BRIEFBOT_HOST_DELAY": str(delay),
            "BRIEFBOT_POLL_CONCURRENCY": "4",
            "BRIEFBOT_FETCH_FULL_TEXT": "true",
        }
        warm = serve_feed(busy, "/warm", full_feed("https://l.example", "-warm"))
        async with polling_service(tmp_path, monkeypatch, topics, **env) as (service, settings):
            await gather([warm], settings)  # the process's first request is slow to arrive
            done = await Poller(service, settings).poll_due()

    assert [outcome.ok for outcome in done.outcomes] == [True] * 4
    expected = [*(f"/feed{n}" for n in range(3)), *(f"/story{n}" for n in range(3))]
    assert sorted(seen.paths("busy")) == sorted(expected)
    assert seen.peak["busy"] == 1
    at_busy = seen.times("busy")
    gaps = [later - earlier for earlier, later in itertools.pairwise(at_busy)]
    assert min(gaps) >= delay - 0.05  # arrivals as the server recorded them
    (at_other,) = seen.times("other")
    assert at_other < at_busy[1]  # the other host did not wait for the busy one's turns


async def test_the_poll_job_runs_a_round_at_once_then_every_tick_never_two_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: FakeHTTPServer
) -> None:
    url = serve_feed(http_server, "/rss", full_feed("https://l.example"))
    polled = asyncio.Event()

    async def on_ingested(result: IngestResult) -> None:
        polled.set()

    async with polling_service(tmp_path, monkeypatch, {"harbour": [url]}) as (service, settings):
        scheduler = AsyncIOScheduler(timezone=UTC)
        Poller(service, settings, on_ingested=on_ingested).install(scheduler)
        scheduler.start()
        try:
            await asyncio.wait_for(polled.wait(), timeout=30)
            job = scheduler.get_job(POLL_JOB)
        finally:
            scheduler.shutdown(wait=False)

    assert len(requests_to(http_server, "/rss")) == 1
    assert job.trigger.interval == timedelta(seconds=POLL_TICK)
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'health.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_server").database()
    with Store.open(url) as opened:
        yield opened


def test_health_is_kept_under_the_redacted_source_and_failures_count_in_a_row(
    store: Store,
) -> None:
    source = "https://reader:hunter2@news.example/world.rss?token=abc123"
    error = "HTTP 401 Unauthorized from https://reader:hunter2@news.example/world.rss"
    health = store.health

    first = health.record_failure(source, NOW, error, lambda n: NOW + n * MINUTE)
    second = health.record_failure(source, NOW + MINUTE, error, lambda n: NOW + n * MINUTE)
    assert (first.consecutive_failures, second.consecutive_failures) == (1, 2)
    assert second.next_poll_at == NOW + 2 * MINUTE  # the backoff saw the stored count
    back = health.record_success(source, NOW + 5 * MINUTE, 7, NOW + 20 * MINUTE)
    assert (back.consecutive_failures, back.last_articles) == (0, 7)
    assert (back.last_error_at, back.last_error) == (NOW + MINUTE, second.last_error)

    (row,) = health.all()
    assert row == back
    assert row.source == "https://reader:***@news.example/world.rss?token=***"
    assert health.get_many([source, "https://other.example/feed"]) == {source: row}
    with store.engine.connect() as connection:
        stored = str(connection.exec_driver_sql("SELECT * FROM source_health").all())
    assert "hunter2" not in stored
    assert "abc123" not in stored
