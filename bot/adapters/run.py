"""``briefbot run``: one asyncio process serving every configured platform.

- Slack when ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN`` (Socket Mode) or
  ``SLACK_SIGNING_SECRET`` (HTTP mode) are set;
- otherwise the console channel on this terminal. Where no topics file exists yet (a fresh
  machine), it serves the bundled demo news and topics from a throwaway database, so
  ``briefbot run`` shows the bot working with nothing configured.

SIGINT and SIGTERM stop new work, give what is in flight ``BRIEFBOT_SHUTDOWN_GRACE``
seconds to finish, and close every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

from bot.adapters.console_channel import ConsoleChannel, LineReader, stdin_reader
from bot.app import build_service
from bot.chat.commands import ChatCore
from bot.config import Settings
from bot.demo import DEMO_DIR, demo_sources
from bot.domain import utcnow
from bot.pipeline import shift_articles
from bot.service import BriefingService

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def chat_service(
    settings: Settings, *, note: Callable[[str], None]
) -> AsyncIterator[BriefingService]:
    """The service ``run`` serves: the configured one, or on a machine without a topics
    file and without a platform, the bundled demo in a throwaway database."""
    if settings.slack_configured or settings.resolved_topics_file.exists():
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
            if settings.slack_configured:
                await _serve_slack(settings, core, stop)
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


async def _serve_slack(settings: Settings, core: ChatCore, stop: asyncio.Event) -> None:
    from bot.adapters.slack.app import SlackBot  # slack_bolt loads only when Slack is served

    bot = SlackBot(settings, core)
    await bot.start()
    settle_heap()
    try:
        await stop.wait()
        log.info("stopping: finishing the requests in flight")
    finally:
        await bot.stop(settings.shutdown_grace)


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
    await ConsoleChannel(core, write).run(reader, stop, grace=settings.shutdown_grace)
