"""A local aiohttp server on its own event loop in a thread: the base of the chat fakes.

Running on its own loop, the same started server serves sync and async tests alike, and a
test's loop can block on the code under test without stalling the fake. Subclasses add
their routes (``routes``) and close their open connections (``close_connections``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web


class ThreadedAioServer:
    """Started with ``with`` / ``async with`` (or ``start()``/``stop()``); port 0 on
    127.0.0.1, the real port in ``_port`` once started."""

    thread_name = "fake-server"

    def __init__(self) -> None:
        self._lock = threading.RLock()  # guards the fake's state; held briefly
        self._waiters: list[tuple[Callable[[], bool], asyncio.AbstractEventLoop, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""
        raise NotImplementedError

    async def close_connections(self) -> None:
        """Close what the fake holds open (websockets) before the server stops."""

    def _seen(self) -> str:
        """What the fake has seen so far, for a wait that ran out ("" for nothing to add)."""
        return ""

    def _changed(self) -> None:
        """Wake the waiters whose condition now holds. Call with the state updated."""
        with self._lock:
            ready = [w for w in self._waiters if w[0]()]
            for waiter in ready:
                self._waiters.remove(waiter)
        for _, loop, future in ready:
            loop.call_soon_threadsafe(_resolve, future)

    async def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Until ``condition()`` holds (checked whenever the state changes), from any loop;
        ``TimeoutError`` naming ``what`` and what was seen when it runs out."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (condition, loop, future)
        with self._lock:
            if condition():
                return
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = self._seen()
            message = f"{type(self).__name__}: no {what} within {timeout}s"
            raise TimeoutError(message + (f"; {seen}" if seen else "")) from None
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def start(self) -> Self:
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()'s caller
                failed.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    async def _serve(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        await self.close_connections()
        if self._runner is not None:
            await self._runner.cleanup()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
