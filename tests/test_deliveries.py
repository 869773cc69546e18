"""Delivery records and the leader lock, on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import Channel, DeliveryKind, DeliveryState, Platform, Subscription
from bot.store import Store
from bot.store.leader import AdvisoryLock, FileLock, leader_lock
from tests.fakes.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)

SLOT = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
KEY = "digest:2026-12-01T07:00:00+00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'briefbot.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store.open(database_url) as opened:
        yield opened


def subscribe(store: Store, channel_id: str = "C1") -> int:
    saved = store.subscriptions.upsert(
        Subscription(
            Channel(Platform.SLACK, channel_id, "news", "T1"),
            "ukraine",
            "daily 08:00",
            "Europe/Berlin",
            "U1",
            SLOT - timedelta(days=3),
        )
    )
    assert saved.id is not None
    return saved.id


def test_a_slot_is_claimed_once_and_completed_by_its_owner_only(store: Store) -> None:
    sub = subscribe(store)

    first = store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "a")
    assert first is not None
    assert first.id is not None
    assert first.attempts == 1
    assert first.state is DeliveryState.CLAIMED
    assert store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "b") is None

    taken = store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "b", take_over=True)
    assert taken is not None
    assert taken.owner == "b"
    assert taken.attempts == 2
    assert not store.deliveries.complete(first.id, "a", "111.1", None)  # "a" lost it
    assert store.deliveries.complete(first.id, "b", "222.2", "222.2")

    assert store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "c", take_over=True) is None
    (done,) = store.deliveries.of_subscription(sub)
    assert (done.state, done.message_id, done.owner) == (DeliveryState.COMPLETED, "222.2", "b")
    assert store.deliveries.pending() == []


def test_what_a_delivery_carries_is_stored_before_it_is_posted(store: Store) -> None:
    sub = subscribe(store)
    claimed = store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "a", late=True)
    assert claimed is not None
    assert claimed.id is not None

    assert store.deliveries.prepare(claimed.id, "a", [4, 5], ["s1", "s2"])
    assert not store.deliveries.prepare(claimed.id, "someone else", [9], ["s9"])

    (pending,) = store.deliveries.pending()
    assert (pending.briefing_ids, pending.story_ids, pending.late) == ([4, 5], ["s1", "s2"], True)
    assert pending.slot_at == SLOT


def test_skipped_and_failed_deliveries_are_done_and_keep_their_reason(store: Store) -> None:
    sub = subscribe(store)
    one = store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "a")
    other = store.deliveries.claim(
        sub, DeliveryKind.DIGEST, "digest:x", SLOT + timedelta(days=1), "a"
    )
    assert one is not None
    assert one.id is not None
    assert other is not None
    assert other.id is not None

    store.deliveries.finish(one.id, "a", DeliveryState.SKIPPED, None)
    store.deliveries.finish(other.id, "a", DeliveryState.FAILED, "not_in_channel: invite me")

    states = {d.slot_key: (d.state, d.error) for d in store.deliveries.of_subscription(sub)}
    assert states == {
        KEY: (DeliveryState.SKIPPED, None),
        "digest:x": (DeliveryState.FAILED, "not_in_channel: invite me"),
    }
    assert store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "a", take_over=True) is None
    assert store.deliveries.latest_slots(DeliveryKind.DIGEST) == {sub: SLOT + timedelta(days=1)}


def test_concurrent_claims_from_two_processes_stores_have_one_winner(database_url: str) -> None:
    with Store.open(database_url) as setup:
        sub = subscribe(setup)
    stores = [Store.open(database_url) for _ in range(4)]
    wins: list[str] = []
    barrier = threading.Barrier(len(stores))

    def claim(index: int) -> None:
        barrier.wait()
        got = stores[index].deliveries.claim(
            sub, DeliveryKind.DIGEST, KEY, SLOT, f"owner-{index}", take_over=True
        )
        if got is not None and got.attempts == 1:
            wins.append(got.owner)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()

    assert len(wins) == 1  # the others found it claimed (and maybe took it over, later)


def test_a_live_update_is_found_for_the_rate_limit(store: Store) -> None:
    sub = subscribe(store)
    assert store.deliveries.last_update(sub, "story-1") is None
    store.deliveries.claim(
        sub, DeliveryKind.UPDATE, "update:story-1:ab", SLOT, "a", story_id="story-1"
    )
    assert store.deliveries.last_update(sub, "story-1") == SLOT
    assert store.deliveries.last_update(sub, "story-2") is None


def test_deleting_a_subscription_deletes_its_deliveries(store: Store) -> None:
    sub = subscribe(store)
    store.deliveries.claim(sub, DeliveryKind.DIGEST, KEY, SLOT, "a")
    store.subscriptions.remove(Channel(Platform.SLACK, "C1"), "ukraine")
    assert store.deliveries.pending() == []


# ---------------------------------------------------------------------- the leader lock

_HOLDER = """
import sys, time
from bot.store import Store
store = Store.open(sys.argv[1])
lock = store.leader_lock()
assert lock.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


def _hold_in_a_process(database_url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_one_process_holds_the_leader_lock_until_it_is_killed(database_url: str) -> None:
    with Store.open(database_url) as store:
        holder = _hold_in_a_process(database_url)
        lock = store.leader_lock()
        try:
            assert not lock.try_acquire()
            assert not lock.held()
            holder.kill()  # SIGKILL: no clean-up runs in the holder
            holder.wait()
            deadline = time.monotonic() + 20
            while not lock.try_acquire():
                assert time.monotonic() < deadline, "the lock was not freed by the holder's death"
                time.sleep(0.1)
            assert lock.held()
            assert lock.try_acquire()  # asking again while holding it is fine
        finally:
            holder.kill()
            holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()
            lock.release()


def test_the_lock_kind_follows_the_database(database_url: str, tmp_path: Path) -> None:
    with Store.open(database_url) as store:
        lock = store.leader_lock()
        if database_url.startswith("sqlite"):
            assert isinstance(lock, FileLock)
        else:
            assert isinstance(lock, AdvisoryLock)
    with Store.open("sqlite://") as memory:
        assert leader_lock(memory.engine).try_acquire()


def test_a_released_lock_passes_to_the_next_process(database_url: str) -> None:
    with Store.open(database_url) as one, Store.open(database_url) as two:
        first, second = one.leader_lock(), two.leader_lock()
        assert first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
        second.release()
