"""``briefbot run``: one asyncio process serving every configured platform.

- Slack when ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN`` (Socket Mode) or
  ``SLACK_SIGNING_SECRET`` (HTTP mode) are set;
- Discord when ``DISCORD_BOT_TOKEN`` is set (both at once when both are);
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
from typing import Protocol

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


async def _serve_platforms(settings: Settings, core: ChatCore, stop: asyncio.Event) -> None:
    bots: list[_Platform] = []
    try:
        for name in platforms(settings):
            bot = _make(name, settings, core)  # SDKs load only for the platforms served
            await bot.start()
            bots.append(bot)
        settle_heap()
        await stop.wait()
        log.info("stopping: finishing the requests in flight")
    finally:
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
    await ConsoleChannel(core, write).run(reader, stop, grace=settings.shutdown_grace)
