"""``briefbot run``: one asyncio process serving every configured platform.

- Slack when ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN`` (Socket Mode) or
  ``SLACK_SIGNING_SECRET`` (HTTP mode) are set;
- Discord when ``DISCORD_BOT_TOKEN`` is set (both at once when both are);
- otherwise the console channel on this terminal. Where no topics file exists yet (a fresh
  machine), it serves the bundled demo news and topics from a throwaway database, so
  ``briefbot run`` shows the bot working with nothing configured.

With ``BRIEFBOT_SCHEDULER`` on (the default), the process also stands for the scheduler
(``bot.scheduler``): the one process holding the database's leader lock polls the sources,
delivers the digests and posts live updates, through each platform's outbox (the console
prints them); the others serve chat and stand by.

SIGINT and SIGTERM stop new work, give what is in flight ``BRIEFBOT_SHUTDOWN_GRACE``
seconds to finish, and close every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from bot.adapters.console_channel import ConsoleChannel, LineReader, stdin_reader
from bot.adapters.console_outbox import ConsoleOutbox
from bot.app import build_service
from bot.chat.commands import ChatCore
from bot.config import Settings
from bot.demo import DEMO_DIR, demo_sources
from bot.domain import Platform, utcnow
from bot.pipeline import shift_articles
from bot.scheduler.election import Election
from bot.scheduler.ports import Outbox
from bot.scheduler.runner import DigestScheduler
from bot.service import BriefingService

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def chat_service(
    settings: Settings, *, note: Callable[[str], None]
) -> AsyncIterator[BriefingService]:
    """The service ``run`` serves: the configured one, or on a machine without a topics
    file and without a platform, the bundled demo in a throwaway database."""
    if platforms(settings) or settings.resolved_topics_file.exists():
        async with build_service(settings) as service:
            yield service
        return
    workdir = Path(tempfile.mkdtemp(prefix="briefbot-run-"))
    try:
        demo = settings.model_copy(
            update={
                "topics_file": DEMO_DIR / "topics.toml",
                "fetch_full_text": False,
                "discovery": [],
                "since": "7d",
            }
        )
        async with build_service(
            demo, database_url=f"sqlite:///{workdir / 'demo.sqlite3'}"
        ) as service:
            gathered = await service.gather(demo_sources())
            await service.ingest_articles(
                shift_articles(gathered.articles, utcnow() - timedelta(hours=1))
            )
            names = ", ".join(sorted(await service.topics()))
            note(
                f"No topics file at {settings.resolved_topics_file} and no platform set: "
                f"serving the bundled demo news ({names}) from a throwaway database."
            )
            yield service
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def serve(
    settings: Settings,
    *,
    write: Callable[[str], None],
    note: Callable[[str], None],
    lines: LineReader | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until a signal (or, in the console, the end of input)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        async with chat_service(settings, note=note) as service:
            core = ChatCore(service, default_timezone=settings.timezone)
            if platforms(settings):
                await _serve_platforms(settings, core, stop)
            else:
                await _serve_console(settings, core, write, note, lines, stop)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def settle_heap() -> None:
    """Move everything start-up made (modules, SDK types, the story index) out of the
    garbage collector's sight: a full collection over it stalls the event loop for a
    couple of hundred milliseconds, acks included, every few thousand requests."""
    gc.collect()
    gc.freeze()


def platforms(settings: Settings) -> list[str]:
    """The chat platforms configured: ``slack``, ``discord`` (none means the console)."""
    return [
        name
        for name, configured in (
            ("slack", settings.slack_configured),
            ("discord", settings.discord_configured),
        )
        if configured
    ]


class _Platform(Protocol):
    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None: ...

    def outbox(self) -> Outbox: ...


def owner_id() -> str:
    """This process among the replicas: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_scheduler(
    settings: Settings,
    service: BriefingService,
    outboxes: dict[Platform, Outbox],
    stop: asyncio.Event,
    *,
    owner: str | None = None,
) -> None:
    """Stand for the scheduler until ``stop``: lead it while holding the leader lock."""
    if not settings.scheduler:
        log.info("BRIEFBOT_SCHEDULER is off: this process serves chat only")
        return
    me = owner or owner_id()
    running: list[DigestScheduler] = []

    async def lead() -> None:
        scheduler = DigestScheduler(service, settings, outboxes, owner=me)
        await scheduler.start()
        running.append(scheduler)

    async def step_down() -> None:
        while running:
            await running.pop().stop(settings.shutdown_grace)

    lock = service.store.leader_lock()
    await Election(lock, retry=settings.leader_retry, lead=lead, step_down=step_down, owner=me).run(
        stop
    )


async def _serve_platforms(settings: Settings, core: ChatCore, stop: asyncio.Event) -> None:
    bots: list[_Platform] = []
    scheduling: asyncio.Task[None] | None = None
    try:
        outboxes: dict[Platform, Outbox] = {}
        for name in platforms(settings):
            bot = _make(name, settings, core)  # SDKs load only for the platforms served
            await bot.start()
            bots.append(bot)
            outbox = bot.outbox()
            outboxes[outbox.platform] = outbox
        settle_heap()
        scheduling = asyncio.create_task(run_scheduler(settings, core.service, outboxes, stop))
        await stop.wait()
        log.info("stopping: finishing the requests in flight")
    finally:
        stop.set()
        if scheduling is not None:  # deliveries in flight finish before the platforms close
            await asyncio.gather(scheduling, return_exceptions=True)
        await asyncio.gather(
            *(bot.stop(settings.shutdown_grace) for bot in reversed(bots)),
            return_exceptions=True,
        )


def _make(name: str, settings: Settings, core: ChatCore) -> _Platform:
    if name == "slack":
        from bot.adapters.slack.app import SlackBot

        return SlackBot(settings, core)
    from bot.adapters.discord.client import DiscordBot

    return DiscordBot(settings, core)


async def _serve_console(
    settings: Settings,
    core: ChatCore,
    write: Callable[[str], None],
    note: Callable[[str], None],
    lines: LineReader | None,
    stop: asyncio.Event,
) -> None:
    reader = lines or stdin_reader()
    await reader.open()
    note(
        "briefbot console channel. Type help, /brief <topic>, subscribe <topic> <schedule>, "
        "or a question about the last briefing; quit or Ctrl-D leaves."
    )
    ended = asyncio.Event()  # the console's input ended, or a signal came
    scheduling = asyncio.create_task(
        run_scheduler(settings, core.service, {Platform.CONSOLE: ConsoleOutbox(write)}, ended)
    )
    try:
        await ConsoleChannel(core, write).run(reader, stop, grace=settings.shutdown_grace)
    finally:
        ended.set()
        await asyncio.gather(scheduling, return_exceptions=True)
