"""Connections pinned to checked addresses: resolve once, check, connect to what was checked.

httpx2 resolves a host name inside the connection it opens, so a check made
before the request (resolve, then send) can be fooled by a DNS server that
answers differently the second time (DNS rebinding). ``PinnedBackend`` is an
httpcore2 network backend that does the three steps in one: it asks the
``Resolver`` once, checks every address (``bot.sources.safety``) unless told
the host may be anywhere, and opens the TCP connection to one of those
addresses itself. httpcore2 then starts TLS on that socket with the host name
(SNI and certificate verification), and the ``Host`` header is the URL's, so
the server sees an ordinary request.

``pinned_client`` wraps it in an ``httpx2.AsyncClient`` whose connection pool
holds only connections made this way (a pool is per client, so a checked
request never reuses a connection opened for the operator's sources).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpcore2
import httpx2

from bot.config import Settings
from bot.sources.safety import Resolver, SystemResolver, check_addresses, literal_address
from bot.sources.tls import tls_context


class PinnedBackend(httpcore2.AsyncNetworkBackend):
    """Resolves with ``resolver``, checks (when ``public_only``), connects through ``network``.

    ``network`` makes the TCP connection to an address (httpcore2's anyio backend
    by default; tests pass a fake network). Raises ``NonPublicAddress`` before
    connecting when an address is not public, and ``httpcore2.ConnectError``
    when the name cannot be resolved or no address answers.
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        public_only: bool = True,
        network: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self._resolver = resolver or SystemResolver()
        self._public_only = public_only
        self._network = network or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    addresses = list(await self._resolver.resolve(host, port))
            except TimeoutError:
                raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from None
            except OSError as exc:
                raise httpcore2.ConnectError(str(exc)) from exc
        if not addresses:
            raise httpcore2.ConnectError(f"{host} resolves to no address")
        if self._public_only:
            check_addresses(host, addresses)
        failure: Exception | None = None
        for address in addresses:  # every one checked; the first that answers is used
            try:
                return await self._network.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's signature
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("pinned connections are TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class _PinnedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport over a connection pool that connects through ``backend``."""

    def __init__(self, backend: PinnedBackend, limits: httpx2.Limits) -> None:
        context = tls_context()  # verifies as the operator's client does
        super().__init__(verify=context, limits=limits)
        # httpx2's transport has no network-backend parameter: its pool (built from the
        # same arguments) is replaced by one that connects through ``backend``.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def pinned_client(settings: Settings, backend: PinnedBackend) -> httpx2.AsyncClient:
    """A client like ``make_client``'s whose every connection goes through ``backend``."""
    limits = httpx2.Limits(
        max_connections=settings.fetch_concurrency,
        max_keepalive_connections=settings.fetch_concurrency,
    )
    return httpx2.AsyncClient(
        transport=_PinnedTransport(backend, limits),
        timeout=httpx2.Timeout(settings.http_timeout),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent},
    )
