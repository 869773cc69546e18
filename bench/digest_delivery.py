"""Scheduled digests: 10,000 subscriptions due in the same minute, delivered to a paced Slack.

    python -m bench.digest_delivery [--subscriptions 10000] [--per-channel 1 3]
        [--concurrency 16 64] [--modes llm extractive]

Each run starts the fake Slack with Slack's pacing (``FakeSlack(pace_per_channel=1.0)``: one
``chat.postMessage`` a second per channel, HTTP 429 with ``Retry-After`` beyond it) and an
instant fake model (``FakeOpenAI``), then a worker process of its own (so its peak memory is
the bot's alone and the fakes do not share its interpreter). The worker:

1. builds the service as ``briefbot run`` does (``bot.app.build_service``) on SQLite in a
   temporary directory, on the bundled demo topics and sources;
2. stores ``--subscriptions`` subscriptions through ``store.subscriptions.upsert`` (the
   fast path: no chat command) to the three demo topics in turn, ``--per-channel`` of them
   in each channel (1: 10,000 channels; 3: the three topics in each of 3,334 channels,
   where Slack's pacing bites), all ``daily HH:MM`` at
   the next whole minute (one UPDATE after the inserts sets the minute);
3. starts the production ``DigestScheduler`` (the real APScheduler jobs, one per
   subscription; the pollers off) with the Slack outbox of ``briefbot run``
   (``make_web_client(retry_connections=False)``: slack_sdk retries a 429 three times
   after its ``Retry-After``, then the deliverer backs off and retries until the grace
   period ends), and waits until every delivery record has left ``claimed``.

Reported: the time from the slot to the last completed delivery record (and to the first
and the median), the peak RSS of the worker (``getrusage`` high-water mark, so it includes
the set-up) and its RSS just before the slot, the SQL statements per digest (a
``before_cursor_execute`` listener on the store's engine, from the scheduler's start to
the end; SQLite's BEGINs count, COMMITs are not statements), the model calls, the 429s the
fake answered, the deliverer's own retries, and the delivery states.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.slack_ack import chat_environment, writer
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

TOPICS = ("port-strike", "rail-strike", "ammonia-leak")
TARGET = 300.0  # seconds: every digest of the minute delivered within 5 minutes


# ---------------------------------------------------------------------- the worker process


def _rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


class _Retries(logging.Handler):
    """Counts the deliverer's own retries (its "failed (attempt n), retrying" warnings)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "retrying in" in message:
            self.count += 1
            if len(self.samples) < 3:
                self.samples.append(message)


async def _worker(config: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import create_engine, event, func, select, update

    from bot.adapters.slack.app import make_web_client
    from bot.adapters.slack.outbox import SlackOutbox
    from bot.app import build_service
    from bot.config import load_settings
    from bot.domain import Channel, DeliveryState, Platform, Subscription
    from bot.scheduler.runner import DigestScheduler
    from bot.store.models import DeliveryRow, SubscriptionRow

    retries = _Retries()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(retries)
    for name in ("bot.scheduler.deliver", "slack_sdk"):
        logging.getLogger(name).propagate = name != "bot.scheduler.deliver"
    logging.getLogger("bot.scheduler.deliver").addHandler(retries)

    settings = load_settings()
    database_url = config["database_url"]
    service = build_service(settings, database_url=database_url)
    store = service.store
    count, per_channel = config["subscriptions"], config["per_channel"]
    started = time.monotonic()
    now = datetime.now(UTC)
    for index in range(count):
        channel = Channel(Platform.SLACK, f"C{index // per_channel:09d}", "", "T0FAKETEAM1")
        store.subscriptions.upsert(
            Subscription(
                channel,
                TOPICS[index % len(TOPICS)],
                "daily 00:00",
                "UTC",
                "U0BENCH0001",
                now,
            )
        )
    inserted = time.monotonic() - started
    # The next whole minute at least 5 s away: every job is in place before it fires.
    slot = (datetime.now(UTC) + timedelta(seconds=65)).replace(second=0, microsecond=0)
    monitor = create_engine(database_url)  # the bench's own reads: not counted
    with monitor.begin() as connection:
        connection.execute(update(SubscriptionRow).values(schedule=f"daily {slot:%H:%M}"))

    statements: collections.Counter[str] = collections.Counter()

    @event.listens_for(store.engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split()
        table = next(
            (
                words[i + 1].strip('"')
                for i, w in enumerate(words[:-1])
                if w.upper() in ("FROM", "INTO", "UPDATE")
            ),
            "",
        )
        statements[f"{words[0].upper() if words else '?'} {table}".strip()] += 1

    outbox = SlackOutbox(make_web_client(settings, retry_connections=False))
    scheduler = DigestScheduler(
        service, settings, {Platform.SLACK: outbox}, owner="bench", poll=False
    )
    await scheduler.start()
    await asyncio.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds()))
    sampler = None
    if config.get("sample"):
        from bench._sampler import Sampler

        sampler = Sampler()
        sampler.start()
    rss_at_slot = _rss_kib()
    cpu_at_slot = time.process_time()
    open_states = (str(DeliveryState.CLAIMED),)
    deadline = time.monotonic() + config["timeout"]
    while time.monotonic() < deadline:
        with monitor.connect() as connection:
            records = connection.scalar(select(func.count(DeliveryRow.id)))
            still = connection.scalar(
                select(func.count(DeliveryRow.id)).where(DeliveryRow.state.in_(open_states))
            )
        if records == count and still == 0:
            break
        await asyncio.sleep(0.5)
    await scheduler.idle()
    cpu = time.process_time() - cpu_at_slot
    await scheduler.stop(1.0)
    if sampler is not None:
        sampler.stop()
        await asyncio.to_thread(Path(config["sample"]).write_text, sampler.report(), "utf-8")
    total_statements = sum(statements.values())
    with monitor.connect() as connection:
        states = dict(
            connection.execute(
                select(DeliveryRow.state, func.count(DeliveryRow.id)).group_by(DeliveryRow.state)
            ).all()
        )
        done: list[datetime] = [
            at
            for (at,) in connection.execute(
                select(DeliveryRow.completed_at).where(DeliveryRow.completed_at.is_not(None))
            )
            if at is not None
        ]
        late = connection.scalar(select(func.count(DeliveryRow.id)).where(DeliveryRow.late))
        attempts = connection.scalar(select(func.max(DeliveryRow.attempts)))
    monitor.dispose()
    await service.aclose()
    naive_slot = slot.replace(tzinfo=None)
    seconds = sorted(
        ((at.replace(tzinfo=None) if at.tzinfo else at) - naive_slot).total_seconds() for at in done
    )
    return {
        "inserted_seconds": inserted,
        "cpu_seconds": cpu,
        "states": states,
        "late": late,
        "max_attempts": attempts,
        "first": seconds[0] if seconds else None,
        "median": statistics.median(seconds) if seconds else None,
        "last": seconds[-1] if seconds else None,
        "statements": total_statements,
        "by_statement": statements.most_common(12),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_at_slot_mib": rss_at_slot / 1024,
        "deliverer_retries": retries.count,
        "retry_samples": retries.samples,
    }


# ---------------------------------------------------------------------- the bench process


def _run_one(
    subscriptions: int,
    per_channel: int,
    concurrency: int,
    mode: str,
    timeout: float,
    profile: str | None = None,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="briefbot-bench-") as tmp,
        FakeSlack(pace_per_channel=1.0) as slack,
        FakeOpenAI() as model,
    ):
        model.script(*[writer(0.0)] * 200)
        workdir = Path(tmp)
        env = chat_environment(
            workdir,
            model,
            {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "BRIEFBOT_SLACK_API_URL": slack.api_url,
                "BRIEFBOT_MODE": mode,
                "BRIEFBOT_HOST_DELAY": "0",
                "BRIEFBOT_DELIVERY_CONCURRENCY": str(concurrency),
            },
        )
        config = {
            "database_url": f"sqlite:///{workdir / 'data' / 'briefbot.sqlite3'}",
            "subscriptions": subscriptions,
            "per_channel": per_channel,
            "timeout": timeout,
            "profile": profile if profile and not profile.endswith(".txt") else None,
            "sample": profile if profile and profile.endswith(".txt") else None,
        }
        (workdir / "data").mkdir()
        process = subprocess.run(
            [sys.executable, "-m", "bench.digest_delivery", "--worker", json.dumps(config)],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if process.returncode != 0:
            raise RuntimeError(f"the worker failed:\n{process.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
        posts = slack.calls_to("chat.postMessage")
        result.update(
            {
                "model_calls": len(model.requests),
                "accepted_posts": slack.accepted_posts,
                "paced_posts": slack.paced_posts,
                "posts_429": sum(1 for call in posts if call.status == 429),
                "channels_posted": len({str(c.params.get("channel")) for c in posts if c.ok}),
                "worker_log": [
                    line
                    for line in process.stderr.splitlines()
                    if line.startswith(("ERROR", "CRITICAL"))
                ][:3],
            }
        )
        return result


def _report(
    subscriptions: int, per_channel: int, concurrency: int, mode: str, r: dict[str, Any]
) -> None:
    states = r["states"]
    completed = states.get("completed", 0)
    unretried = sum(n for state, n in states.items() if state != "completed")
    last = r["last"]
    ok = completed == subscriptions and unretried == 0 and last is not None and last <= TARGET
    print(
        f"{subscriptions} subscriptions, {per_channel} per channel, concurrency {concurrency}, "
        f"{mode}: all delivered {last:.1f} s after the slot (first {r['first']:.1f} s, "
        f"median {r['median']:.1f} s); peak RSS {r['peak_rss_mib']:.0f} MiB "
        f"({r['rss_at_slot_mib']:.0f} MiB at the slot); "
        f"{r['statements'] / subscriptions:.2f} SQL statements per digest "
        f"({r['statements']} in all); model calls {r['model_calls']}; "
        f"429s {r['posts_429']}, deliverer retries {r['deliverer_retries']}; "
        f"posts accepted {r['accepted_posts']} in {r['channels_posted']} channels; "
        f"deliveries {dict(sorted(states.items()))}, late {r['late']}, "
        f"max attempts {r['max_attempts']} -> {'OK' if ok else 'MISSED the target'}"
        if last is not None
        else f"{subscriptions} subscriptions, {mode}: nothing delivered ({states})",
        flush=True,
    )
    print(
        f"  worker CPU from the slot to the end {r['cpu_seconds']:.1f} s; "
        f"set-up: {r['inserted_seconds']:.0f} s for the upserts; statements: "
        + ", ".join(f"{name} {n}" for name, n in r["by_statement"])
    )
    for line in [*r["retry_samples"][:1], *r["worker_log"]]:
        print(f"  log: {line[:300]}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--per-channel", type=int, nargs="+", default=[1, 3], choices=[1, 2, 3])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16])
    parser.add_argument(
        "--modes", nargs="+", default=["llm"], choices=["llm", "extractive"], help="briefers"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run, at most")
    parser.add_argument(
        "--profile",
        help="the worker's cProfile stats to this file (.txt: sampled stacks of all threads)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        config = json.loads(args.worker)
        if config.get("profile"):
            import cProfile

            with cProfile.Profile() as profile:
                result = asyncio.run(_worker(config))
            profile.dump_stats(config["profile"])
        else:
            result = asyncio.run(_worker(config))
        print(json.dumps(result, default=str))
        return
    for mode in args.modes:
        for per_channel in args.per_channel:
            for concurrency in args.concurrency:
                result = _run_one(
                    args.subscriptions,
                    per_channel,
                    concurrency,
                    mode,
                    args.timeout,
                    str(Path(args.profile).resolve()) if args.profile else None,
                )
                _report(args.subscriptions, per_channel, concurrency, mode, result)


if __name__ == "__main__":
    main()
