"""Requests in flight on a chat platform: started as tasks, served a few at a time, and
drained at shutdown. Every adapter acks first and hands the work to one of these."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """At most ``concurrency`` requests served at once; the rest wait their turn, already
    acknowledged. CPU work (in worker threads) competes with the event loop for the
    interpreter, so unbounded concurrency would slow every acknowledgement down."""

    def __init__(self, concurrency: int, *, name: str) -> None:
        self._turns = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.name = name

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Serve ``work`` in its turn, as a task of its own."""

        async def in_turn() -> None:
            async with self._turns:
                await work

        task = asyncio.get_running_loop().create_task(in_turn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the requests in flight; cancel the rest."""
        pending = set(self._tasks)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%s: %d request(s) still running after %.0f s cancelled",
                self.name,
                len(late),
                grace,
            )
            await asyncio.gather(*late, return_exceptions=True)
