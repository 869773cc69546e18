"""The console channel: the chat core in a terminal, for ``briefbot run`` with no platform.

A person types what they would type in Slack: ``/brief port-strike`` (or ``brief
port-strike``), ``subscribe port-strike weekdays 07:30 Europe/London``, ``list``, ``help``,
or a question about the last briefing, which is the console's one thread (answered by
``BriefingService.answer``, remembering the thread's earlier questions). ``ask TOPIC
QUESTION`` answers from the topic's latest briefing and starts the console's thread anew
from that answer. Each line is one request to the same ``ChatCore`` the platforms use;
``quit`` or end of input leaves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

from bot.chat.commands import ChatCore, ChatReply, ChatRequest, ReplyKind, slash_to_command
from bot.domain import Channel, terminal

log = logging.getLogger(__name__)

T = TypeVar("T")
_QUIT = frozenset({"quit", "exit", "/quit", "/exit"})


class ConsoleChannel:
    """Reads requests line by line and prints the core's replies."""

    def __init__(
        self,
        core: ChatCore,
        write: Callable[[str], None],
        *,
        channel: Channel | None = None,
        user_id: str = "console",
    ) -> None:
        self.core = core
        self.write = write
        self.channel = channel or terminal()
        self.user_id = user_id
        self.thread: str | None = None  # the last briefing posted here
        self._posted = 0

    async def handle_line(self, line: str) -> ChatReply | None:
        """Answer one typed line (``None`` for a blank one)."""
        text = line.strip()
        if not text:
            return None
        if text.startswith("/brief"):
            text = slash_to_command(text[len("/brief") :])
        elif text.startswith("/"):
            text = text[1:]
        # In the terminal its user manages the channel: it is theirs.
        reply = await self.core.handle(
            ChatRequest(self.channel, self.user_id, True, text, thread_id=self.thread)
        )
        if reply.kind is ReplyKind.BRIEFING and reply.briefing is not None:
            self._posted += 1
            message_id = f"{self.core.service.clock():%Y%m%dT%H%M%S}.{self._posted}"
            await self.core.service.record_post(reply.briefing, self.channel, message_id)
            self.thread = message_id
        elif reply.starts_thread and reply.answer is not None:
            self._posted += 1
            message_id = f"{self.core.service.clock():%Y%m%dT%H%M%S}.{self._posted}"
            await self.core.service.record_answer(reply.answer, self.channel, message_id)
            self.thread = message_id
        self.write(reply.text if reply.kind is not ReplyKind.ERROR else f"! {reply.text}")
        return reply

    async def run(self, lines: LineReader, stop: asyncio.Event, *, grace: float) -> None:
        """Serve until end of input, ``quit`` or ``stop``; a request in flight when ``stop``
        is set gets ``grace`` seconds to finish."""
        while not stop.is_set():
            line = await _until_stopped(lines.readline(), stop)
            if line is None or line == "":  # stopped, or end of input
                return
            if line.strip().lower() in _QUIT:
                return
            work = asyncio.ensure_future(self.handle_line(line))
            done = await _until_stopped(asyncio.shield(work), stop)
            if done is None and not work.done():
                try:
                    await asyncio.wait_for(work, timeout=grace)
                except TimeoutError:
                    log.warning("console: the request in flight was cancelled at shutdown")
                return


async def _until_stopped(job: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``job``'s result, or ``None`` when ``stop`` is set first (``job`` is then cancelled
    unless it is shielded)."""
    task = asyncio.ensure_future(job)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    return None


class LineReader:
    """Lines of a text stream without blocking the event loop: a pipe or terminal is read
    through the loop; a regular file (``briefbot run < commands.txt``) in a thread."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._reader: asyncio.StreamReader | None = None

    async def open(self) -> None:
        try:
            mode = os.fstat(self.stream.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            return
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader),
                os.fdopen(os.dup(self.stream.fileno()), "rb", buffering=0),
            )
            self._reader = reader

    async def readline(self) -> str:
        if self._reader is not None:
            raw = await self._reader.readline()
            return raw.decode("utf-8", errors="replace")
        return await asyncio.to_thread(self.stream.readline)


def stdin_reader() -> LineReader:
    return LineReader(sys.stdin)
