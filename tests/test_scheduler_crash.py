"""Digests delivered exactly once across SIGKILLs and replicas, on SQLite and PostgreSQL.

``briefbot run`` runs as a real process against the fake Slack server. A subscription's
slot was missed a few minutes ago (within the grace period), so the process that leads the
scheduler delivers it at start; the fake's post hooks SIGKILL that process at one moment of
the delivery, and a restarted process must finish it without a second message:

- between "claimed" and "posted": the post request is lost (nothing stored);
- during the post: the message is stored, the answer never arrives;
- between "posted" and "completed": the answer arrived, but the database refuses the
  completion (the test holds a write lock on it) until the process is dead.

The two-replica test runs two processes on one PostgreSQL database: one leads, the other
stands by; the leader is killed between posting a digest its job fired and completing it,
and the other takes over and completes it from the platform, posting nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.demo import DEMO_DIR, demo_sources
from bot.domain import Channel, Delivery, DeliveryState, Platform, Subscription
from bot.scheduler.trigger import slot_key
from bot.store import Store
from tests.fakes.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)
from tests.fakes.slack import FakeSlack

CHANNEL = "C0DIGEST001"
TIMEOUT = 60.0


@dataclass
class Deployment:
    """A database, a topics file and the environment ``briefbot run`` gets."""

    workdir: Path
    database_url: str
    env: dict[str, str]

    def store(self) -> Store:
        return Store.open(self.database_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'briefbot.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database()


def deployment(tmp_path: Path, database_url: str, fake: FakeSlack) -> Deployment:
    topics = tmp_path / "topics.toml"
    sources = "[" + ", ".join(f'"{s}"' for s in demo_sources()) + "]"
    text = (DEMO_DIR / "topics.toml").read_text(encoding="utf-8")
    topics.write_text(text.replace("sources = []", f"sources = {sources}"), encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIEFBOT_", "OPENAI_", "SLACK_", "DISCORD_", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "BRIEFBOT_DATA_DIR": str(tmp_path / "data"),
            "BRIEFBOT_TOPICS_FILE": str(topics),
            "BRIEFBOT_DISCOVERY": "none",
            "BRIEFBOT_FETCH_FULL_TEXT": "false",
            "BRIEFBOT_SINCE": "3650d",
            "BRIEFBOT_MODE": "extractive",
            "BRIEFBOT_SHUTDOWN_GRACE": "2",
            "BRIEFBOT_LEADER_RETRY": "0.3",
            "BRIEFBOT_DIGEST_GRACE": "2h",
            "BRIEFBOT_HOST_DELAY": "0",
            "BRIEFBOT_LOG_LEVEL": "INFO",
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_APP_TOKEN": fake.app_token,
            "BRIEFBOT_SLACK_API_URL": fake.api_url,
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
    )
    Store.open(database_url).close()  # migrated before any process starts
    return Deployment(tmp_path, database_url, env)


def subscribe(
    deploy: Deployment, schedule: str, *, channel: str = CHANNEL, topic: str = "port-strike"
) -> int:
    with deploy.store() as store:
        saved = store.subscriptions.upsert(
            Subscription(
                Channel(Platform.SLACK, channel, "digests", "T0FAKETEAM1"),
                topic,
                schedule,
                "UTC",
                "U0ADMIN0001",
                datetime.now(UTC) - timedelta(days=2),
            )
        )
    assert saved.id is not None
    return saved.id


def missed_a_few_minutes_ago() -> tuple[str, datetime]:
    """A daily schedule whose slot passed three minutes ago (within the grace period)."""
    slot = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    return f"daily {slot:%H:%M}", slot


class Bot:
    """One ``briefbot run`` process; its log goes to a file."""

    def __init__(self, deploy: Deployment, name: str) -> None:
        self.log = deploy.workdir / f"{name}.log"
        self._log = self.log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from bot.adapters.cli import main; main()", "run"],
            env=deploy.env,
            cwd=deploy.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: nothing of the process's own clean-up runs."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def text(self) -> str:
        """The log, with the console handler's line wrapping undone."""
        return " ".join(self.log.read_text(encoding="utf-8", errors="replace").split())

    def leads(self) -> bool:
        return "holds the scheduler lock" in self.text()


@contextlib.contextmanager
def running(deploy: Deployment, name: str) -> Iterator[Bot]:
    bot = Bot(deploy, name)
    try:
        yield bot
    finally:
        bot.stop()


def wait_until(check: Callable[[], Any], what: str, *bots: Bot, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    logs = "\n".join(f"--- {bot.log.name}\n{bot.text()[-4000:]}" for bot in bots)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def deliveries(deploy: Deployment, subscription_id: int) -> list[Delivery]:
    with deploy.store() as store:
        return store.deliveries.of_subscription(subscription_id)


def completed(deploy: Deployment, subscription_id: int) -> Delivery | None:
    return next(
        (d for d in deliveries(deploy, subscription_id) if d.state is DeliveryState.COMPLETED),
        None,
    )


def posts_of(fake: FakeSlack, key: str) -> list[dict[str, Any]]:
    """The fake's stored messages carrying delivery ``key`` in their metadata."""
    return [
        message
        for message in fake.posted()
        if (message.get("metadata") or {}).get("event_payload", {}).get("key") == key
    ]


class DatabaseLock:
    """A write lock on the deliveries, taken from outside the bot: its completion of a
    delivery waits for it (SQLite: the database's write lock; PostgreSQL: the table)."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self._connection: Any = None

    def take(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            connection = sqlite3.connect(self.url.database or "", check_same_thread=False)
            connection.isolation_level = None
            connection.execute("BEGIN IMMEDIATE")
        else:
            connection = psycopg.connect(
                host=self.url.host,
                port=self.url.port,
                user=self.url.username,
                dbname=self.url.database,
            )
            connection.execute("LOCK TABLE deliveries IN EXCLUSIVE MODE")
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()
            self._connection = None


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user("U0ADMIN0001", "ada", is_admin=True)
        yield server


STAGES = ["between_claimed_and_posted", "during_the_post", "between_posted_and_completed"]


@pytest.mark.parametrize("moment", STAGES)
def test_a_digest_killed_at_any_moment_is_delivered_once_after_a_restart(
    moment: str, backend: str, fake: FakeSlack, tmp_path: Path
) -> None:
    deploy = deployment(tmp_path, backend, fake)
    schedule, slot = missed_a_few_minutes_ago()
    sub = subscribe(deploy, schedule)
    key = slot_key(sub, slot)
    lock = DatabaseLock(backend)
    first = Bot(deploy, "first")
    killed = threading.Event()

    def kill(params: dict[str, Any]) -> None:
        if killed.is_set():
            return
        if moment == "between_posted_and_completed" and not lock._connection:
            lock.take()  # the bot's completion now waits, whatever it is fast enough to do
            return
        if moment == "between_posted_and_completed":
            time.sleep(0.5)  # the answer reaches the bot, which then waits on the lock
        first.kill()
        killed.set()

    if moment == "between_claimed_and_posted":
        fake.on_post(kill, stage="before_store", drop=True)
    elif moment == "during_the_post":
        fake.on_post(kill, stage="after_store")
    else:
        fake.on_post(kill, stage="after_store")
        fake.on_post(kill, stage="after_response")
    try:
        wait_until(killed.is_set, f"the kill {moment}", first)
    finally:
        first.kill()
        first.stop()
        lock.release()
    (left,) = deliveries(deploy, sub)
    assert left.state is DeliveryState.CLAIMED  # the crash left it unfinished
    stored_before = len(posts_of(fake, key))
    assert stored_before == (0 if moment == "between_claimed_and_posted" else 1)
    fake.remove_hooks()

    with running(deploy, "second") as second:
        done = wait_until(lambda: completed(deploy, sub), "the digest completed", second)

    (message,) = posts_of(fake, key)  # one message for the slot, whichever process posted it
    assert done.message_id == message["ts"]
    assert done.late  # it went out after its slot
    assert done.attempts == 2
    assert "recovering digest" in second.text()
    if moment != "between_claimed_and_posted":
        assert "was posted before" in second.text()  # found on Slack, not posted again
    with deploy.store() as store:  # the recovered post is recorded: its thread has stories
        assert store.channels.posts_in_thread(Channel(Platform.SLACK, CHANNEL), message["ts"])


@pytest.mark.postgres
def test_two_replicas_run_one_scheduler_and_a_takeover_posts_nothing_twice(
    request: pytest.FixtureRequest, fake: FakeSlack, tmp_path: Path
) -> None:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    deploy = deployment(tmp_path, server.database(), fake)
    schedule, slot = missed_a_few_minutes_ago()
    missed = subscribe(deploy, schedule, channel="C0MISSED01")
    with running(deploy, "one") as one, running(deploy, "two") as two:
        wait_until(lambda: completed(deploy, missed), "the missed digest", one, two)
        leader, standby = (one, two) if one.leads() else (two, one)
        assert leader.leads()
        assert not standby.leads()  # one scheduler: the other serves chat only

        # A digest due at the next minute: the leader's job fires it; the leader is killed
        # after Slack stored and answered its post, before it could complete the record.
        due = (datetime.now(UTC) + timedelta(seconds=90)).replace(second=0, microsecond=0)
        upcoming = subscribe(deploy, f"daily {due:%H:%M}", channel="C0UPCOMING")
        lock = DatabaseLock(deploy.database_url)
        killed = threading.Event()

        def take_lock(params: dict[str, Any]) -> None:
            if params.get("channel") == "C0UPCOMING" and not killed.is_set():
                lock.take()

        def kill_leader(params: dict[str, Any]) -> None:
            if params.get("channel") == "C0UPCOMING" and not killed.is_set():
                time.sleep(0.5)
                leader.kill()
                killed.set()

        fake.on_post(take_lock, stage="after_store")
        fake.on_post(kill_leader, stage="after_response")
        try:
            wait_until(
                killed.is_set,
                "the leader's post of the due digest",
                leader,
                standby,
                timeout=TIMEOUT + 120,  # the slot is up to a minute away
            )
        finally:
            lock.release()
        fake.remove_hooks()

        done = wait_until(lambda: completed(deploy, upcoming), "the takeover", standby)
        assert standby.leads()
        assert "was posted before" in standby.text()

    (message,) = posts_of(fake, slot_key(upcoming, due))
    assert done.message_id == message["ts"]
    assert len(posts_of(fake, slot_key(missed, slot))) == 1  # not delivered again either
