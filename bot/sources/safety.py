"""The SSRF guard: which addresses a URL that nobody vouches for may reach.

Sources given by the operator (command line, topics file, discovery API base
URLs in the settings) are trusted, loopback included. Everything else is
checked: every URL that comes from a third party - an article link inside a
feed, a discovery result, a redirect ``Location`` - and *every* fetch of a feed
added from chat, its redirects and article pages included (nothing about such
a feed is trusted). Its host is resolved and *every* address it resolves to
must be public (not private, loopback, link-local, multicast, reserved or
unspecified; an IPv4-mapped IPv6 address is judged by its IPv4 address). The
one exception: a link on the same ``host:port`` as the operator's source it
came from, so a feed served from ``127.0.0.1:8080`` may link to its own pages
on ``127.0.0.1:8080``.

The check is made where the connection is made (``bot.sources.pinned``): the
host is resolved once, by a ``Resolver`` (``SystemResolver`` asks the OS; tests
pass their own), every address is checked, and the socket is connected to a
checked address. A DNS server that answers differently a moment later (DNS
rebinding) therefore changes nothing. TLS SNI, certificate verification and
the ``Host`` header still use the host name. Checked connections live in a
connection pool of their own, never shared with the operator's sources.

With ``BRIEFBOT_ALLOW_PRIVATE_SOURCES=true`` a feed added from chat is treated
like the operator's: it may be on any address, and its links and redirects to
other hosts are checked like an operator feed's.

Checked connections go straight to the address: they do not use an
``HTTP(S)_PROXY`` from the environment (a proxy would resolve the name itself).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from bot.errors import SourceFetchError

_DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Origin:
    """The ``host:port`` of a URL (host lower-cased, default port filled in)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def origin_of(url: str) -> Origin | None:
    """The origin of an http(s) URL, or ``None`` when the URL has no usable host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return Origin(parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


def non_public_reason(address: IPAddress) -> str | None:
    """Why an unchecked URL must not reach ``address``, or ``None`` if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return non_public_reason(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:  # before private: Python counts 240.0.0.0/4 as both
        return "a reserved, non-public address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved, non-public address"
    return None


def shown(address: IPAddress) -> str:
    """The address as people write it (``::ffff:127.0.0.1``, not ``::ffff:7f00:1``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


CHAT_RULE = (
    "feeds added from chat must be on public addresses "
    "(set BRIEFBOT_ALLOW_PRIVATE_SOURCES=true to allow)"
)
"""Why a feed added from chat was refused, said after the address."""

LINK_RULE = (
    "links from feeds, redirects and discovery results may only reach public "
    "addresses or the source's own host:port"
)
"""Why a third-party link was refused, said after the address."""


class Resolver(Protocol):
    """Turns a host name into the addresses to connect to (the guard's one DNS look-up)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address of ``host`` (raises ``OSError`` when it cannot be resolved)."""
        ...


class SystemResolver:
    """A ``Resolver`` asking the operating system (``getaddrinfo``)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # sockaddr[0] is the address text; IPv6 scoped addresses carry "%zone".
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        return list(dict.fromkeys(found))


class NonPublicAddress(Exception):
    """A checked host resolved to an address that is not public.

    Raised by the pinned network backend before it connects; ``Fetcher`` turns it
    into a ``SourceRefusedError`` naming the URL.
    """

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        super().__init__(self.what)

    @property
    def what(self) -> str:
        """The refusal's subject: "HOST is REASON" for an address, else "HOST resolves to ..."."""
        if literal_address(self.host) == self.address:
            return f"{self.host} is {self.reason}"
        return f"{self.host} resolves to {shown(self.address)}, {self.reason}"


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells (``[::1]`` included), or ``None`` for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_addresses(host: str, addresses: Sequence[IPAddress]) -> None:
    """Raise ``NonPublicAddress`` for the first of ``addresses`` that is not public."""
    for address in addresses:
        reason = non_public_reason(address)
        if reason is not None:
            raise NonPublicAddress(host, address, reason)


async def ensure_fetchable(
    url: str, trusted: Origin | None, *, resolver: Resolver | None = None
) -> None:
    """Raise ``SourceFetchError`` unless ``url`` (from a third party) may be fetched.

    A check without connecting (the fetcher checks where it connects instead:
    ``bot.sources.pinned``). ``trusted`` is the origin of the operator-given
    source the URL came from, or ``None`` when there is none (a local feed file).
    """
    origin = origin_of(url)
    if origin is None:
        raise SourceFetchError(url, f"refused to fetch {url}: only http(s) URLs with a host")
    if trusted is not None and origin == trusted:
        return
    literal = literal_address(origin.host)
    try:
        addresses = (
            [literal]
            if literal is not None
            else await (resolver or SystemResolver()).resolve(origin.host, origin.port)
        )
    except OSError as exc:
        raise SourceFetchError(
            url, f"could not resolve the host {origin.host} ({exc.strerror or exc})"
        ) from None
    if not addresses:
        raise SourceFetchError(url, f"could not resolve the host {origin.host} (no addresses)")
    try:
        check_addresses(origin.host, addresses)
    except NonPublicAddress as found:
        raise SourceFetchError(url, f"refused to fetch {url}: {found.what}; {LINK_RULE}") from None
