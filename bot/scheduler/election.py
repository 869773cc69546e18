"""Leader election: of the processes on one database, exactly one runs the scheduler.

Every replica serves chat; each tries the leader lock (``bot.store.leader``: a PostgreSQL
advisory lock, or a file lock next to a SQLite database) every ``BRIEFBOT_LEADER_RETRY``
seconds. The holder starts the scheduler; if it dies, the database server (or the kernel)
frees the lock and another replica takes over within one retry interval. A leader that
finds its lock gone (its database connection dropped) stops scheduling at once; the
delivery records keep every slot single while two processes briefly both think they lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.store.leader import LeaderLock

log = logging.getLogger(__name__)


class Election:
    """Runs ``lead`` (start) and ``step_down`` (stop) as this process gains and loses the
    lock, until ``stop`` is set."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        retry: float,
        lead: Callable[[], Awaitable[None]],
        step_down: Callable[[], Awaitable[None]],
        owner: str,
    ) -> None:
        self.lock = lock
        self.retry = retry
        self._lead = lead
        self._step_down = step_down
        self.owner = owner
        self.leading = False
        self.elected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if self.leading:
                    still = await asyncio.to_thread(self.lock.held)
                    if not still:
                        log.error("%s lost the scheduler lock: stopping the scheduler", self.owner)
                        self.leading = False
                        self.elected.clear()
                        await self._step_down()
                else:
                    got = await asyncio.to_thread(self.lock.try_acquire)
                    if got:
                        log.info("%s holds the scheduler lock: running the scheduler", self.owner)
                        self.leading = True
                        await self._lead()
                        self.elected.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.retry)
        finally:
            if self.leading:
                self.leading = False
                await self._step_down()
            await asyncio.to_thread(self.lock.release)
