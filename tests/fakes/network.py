"""A fake DNS and a fake network for the SSRF guard's pinned connections.

``FakeResolver`` is a ``bot.sources.safety.Resolver`` answering from a table and
recording every question; a host may have several answers in turn (the last
one repeats), which is how a rebinding DNS server behaves:

    resolver = FakeResolver({"feed.example": "127.0.0.1"})
    rebinding = FakeResolver.rebinding("news.example", PUBLIC, "127.0.0.1")

``FakeNetwork`` is an httpcore2 network backend: it records every address it is
asked to connect to, carries connections to a routed "public" address to a
local server (``routes={"93.184.215.14": "127.0.0.1"}``), passes loopback
through, and finds every other address unreachable. Nothing public is ever
contacted.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence

import httpcore2

from bot.sources.safety import IPAddress

PUBLIC = "93.184.215.14"
"""A public address that the fake network routes to the local test server."""


class FakeResolver:
    def __init__(self, answers: Mapping[str, str | Sequence[str]]) -> None:
        """Each host always resolves to its address (or addresses)."""
        self._turns: dict[str, list[list[str]]] = {
            host: [[answer] if isinstance(answer, str) else list(answer)]
            for host, answer in answers.items()
        }
        self.calls: list[str] = []

    @classmethod
    def rebinding(cls, host: str, first: str, then: str) -> FakeResolver:
        """``host`` resolves to ``first`` the first time and to ``then`` ever after."""
        resolver = cls({})
        resolver._turns[host] = [[first], [then]]
        return resolver

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.calls.append(host)
        turns = self._turns.get(host)
        if not turns:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = turns[min(self.calls.count(host), len(turns)) - 1]
        return [ipaddress.ip_address(address) for address in answer]


class FakeNetwork(httpcore2.AsyncNetworkBackend):
    def __init__(self, routes: Mapping[str, str] | None = None) -> None:
        self.routes = dict(routes or {PUBLIC: "127.0.0.1"})
        self.connects: list[tuple[str, int]] = []
        self._real = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.connects.append((host, port))
        target = self.routes.get(host)
        if target is None and ipaddress.ip_address(host).is_loopback:
            target = host
        if target is None:
            raise httpcore2.ConnectError("[Errno 101] Network is unreachable")
        return await self._real.connect_tcp(target, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)
