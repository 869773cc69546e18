"""The console channel's outbox: scheduled digests and live updates printed to the
terminal, with the same plain-text renderer as ``/brief`` there.

A terminal cannot be searched, so ``find`` never finds an earlier post: a crash between
printing a digest and completing its record prints it once more after the restart (the
platforms' outboxes find theirs and do not).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.domain import Briefing, Channel, Platform
from bot.render.text import to_text
from bot.scheduler.ports import Posted


class ConsoleOutbox:
    platform = Platform.CONSOLE
    pace = 0.0

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    async def find(
        self, channel: Channel, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Posted | None:
        del channel, key, since, thread_id  # the terminal keeps no history to look in
        return None

    async def post(
        self, channel: Channel, briefing: Briefing, key: str, *, thread_id: str | None = None
    ) -> Posted:
        del channel
        self.write(to_text(briefing))
        return Posted(message_id=key, thread_id=thread_id)
