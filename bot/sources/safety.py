"""The SSRF guard: which URLs found by third parties may be fetched.

Sources given by the operator (command line, topics file, discovery API base
URLs in the settings) are trusted, loopback included. Every URL that comes from
a third party - an article link inside a feed, a discovery result, a redirect
``Location`` - is checked before it is requested: its host is resolved and
*every* address it resolves to must be public (not private, loopback,
link-local, multicast, reserved or unspecified). The one exception is a URL on
the same ``host:port`` as the trusted source it came from, so a feed served
from ``127.0.0.1:8080`` may link to its own pages on ``127.0.0.1:8080``.

The check resolves the name just before the request; a hostile DNS server
could answer differently a moment later (DNS rebinding). Closing that gap
needs connecting to the checked address itself, which the shared HTTP client
does not offer; the check still stops every plain link or redirect to an
internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
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
    """Why an address must not be fetched from a third-party link, or ``None`` if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return non_public_reason(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or not address.is_global:
        return "a reserved, non-public address"
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # sockaddr[0] is the address text; IPv6 scoped addresses carry "%zone".
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def ensure_fetchable(url: str, trusted: Origin | None) -> None:
    """Raise ``SourceFetchError`` unless ``url`` (from a third party) may be fetched.

    ``trusted`` is the origin of the operator-given source the URL came from,
    or ``None`` when there is none (a local feed file).
    """
    origin = origin_of(url)
    if origin is None:
        raise SourceFetchError(url, f"refused to fetch {url}: only http(s) URLs with a host")
    if trusted is not None and origin == trusted:
        return
    try:
        addresses = await _resolve(origin.host, origin.port)
    except OSError as exc:
        raise SourceFetchError(
            url, f"could not resolve the host {origin.host} ({exc.strerror or exc})"
        ) from None
    if not addresses:
        raise SourceFetchError(url, f"could not resolve the host {origin.host} (no addresses)")
    for address in addresses:
        reason = non_public_reason(address)
        if reason is not None:
            what = (
                f"{origin.host} is {reason}"
                if str(address) == origin.host.strip("[]")
                else f"{origin.host} resolves to {address}, {reason}"
            )
            raise SourceFetchError(
                url,
                f"refused to fetch {url}: {what}; "
                "links from feeds, redirects and discovery results may only reach public "
                "addresses or the source's own host:port",
            )
