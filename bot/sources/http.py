"""Fetch one URL safely: timeouts, a streamed size cap, checked redirects, conditional GET.

``Fetcher`` wraps an ``httpx2.AsyncClient``. Every request:

- takes its host's turn (``HostGates``): at most one request at a time to a host (name
  and port), at least ``settings.host_delay`` seconds between the starts of two, across
  every fetcher of the event loop (each poll and gather makes its own), while other hosts
  go on; ``BRIEFBOT_HOST_DELAY=0`` turns this politeness off;
- waits for one of ``settings.fetch_concurrency`` slots (shared by feeds and pages);
- sends ``settings.user_agent`` and, for feeds, ``If-None-Match`` /
  ``If-Modified-Since`` from the remembered validators;
- follows at most ``settings.max_redirects`` redirects itself;
- sends every request that the SSRF guard (``bot.sources.safety``) must check -
  a third-party link, a redirect to another host, any fetch of a feed added from
  chat - through a pinned client (``bot.sources.pinned``): the host is resolved
  once, every address checked, and the connection made to a checked address;
- times out per phase after ``settings.http_timeout`` seconds (connect, read,
  write, pool) and overall after ``TOTAL_TIMEOUT_FACTOR`` times that, so a
  server dripping one byte at a time cannot hold a slot for ever;
- stops reading once the (decoded) body passes ``settings.max_body_bytes``,
  whether or not a ``Content-Length`` was sent (this also caps gzip bombs).

Failures raise ``SourceFetchError`` subclasses whose message is a sentence
naming the URL and what went wrong.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin, urlsplit

import httpcore2
import httpx2

from bot.config import Settings
from bot.errors import SourceFetchError, SourceHTTPError, SourceRefusedError, SourceTooLargeError
from bot.sources.pinned import PinnedBackend, pinned_client
from bot.sources.safety import CHAT_RULE, LINK_RULE, NonPublicAddress, Origin, Resolver, origin_of
from bot.sources.tls import tls_context

log = logging.getLogger(__name__)

TOTAL_TIMEOUT_FACTOR = 2.0
"""A whole fetch (redirects and body included) may take this many ``http_timeout``s."""

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
JSON_ACCEPT = "application/json, */*;q=0.1"


@dataclass(frozen=True, slots=True)
class Validators:
    """Conditional-GET validators of a feed (either may be missing)."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A completed fetch: final URL, status (200-299 or 304), headers and body."""

    url: str
    status: int
    headers: httpx2.Headers
    body: bytes

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        raw = self.headers.get("content-type")
        if not raw:
            return None
        message = Message()
        message["content-type"] = raw
        charset = message.get_param("charset")
        return charset if isinstance(charset, str) and charset else None

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))


def make_client(settings: Settings) -> httpx2.AsyncClient:
    """The client used when the caller passes none (closed by the caller)."""
    return httpx2.AsyncClient(
        verify=tls_context(),
        timeout=httpx2.Timeout(settings.http_timeout),
        limits=httpx2.Limits(
            max_connections=settings.fetch_concurrency,
            max_keepalive_connections=settings.fetch_concurrency,
        ),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent},
    )


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


def _connect_reason(exc: BaseException) -> str:
    """The most specific reason in the exception chain ("connection refused", ...)."""
    reason = str(exc) or type(exc).__name__
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):  # errno 1 would say "not permitted"
            return f"its TLS certificate was refused ({current.verify_message})"
        if isinstance(current, ssl.SSLError):
            return f"the TLS handshake failed ({current.reason or current})"
        if isinstance(current, OSError) and current.errno and current.errno > 0:
            reason = os.strerror(current.errno)
        elif isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        current = current.__cause__ or current.__context__
    lowered = reason.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "the host name could not be resolved"
    return lowered if lowered.startswith("connection ") else reason


class _Host:
    """One host's turn: who holds it, and when its latest request started."""

    __slots__ = ("last_start", "lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.last_start: float | None = None  # the event loop's clock
        self.users = 0

    def started(self) -> None:
        """The request of this turn starts now (the next one waits ``delay`` from here)."""
        self.last_start = asyncio.get_running_loop().time()


class HostGates:
    """Per-host politeness for one event loop: one request at a time to each host, and at
    least ``delay`` seconds from the start of one to the start of the next. A request
    waiting for its host's turn holds no fetch slot, so other hosts are not held up.

    Redirect hops ride on the turn of the URL first asked for."""

    PRUNE_AT = 1024  # hosts remembered before idle ones are forgotten

    def __init__(self) -> None:
        self._hosts: dict[Origin, _Host] = {}

    @asynccontextmanager
    async def turn(self, origin: Origin, delay: float) -> AsyncIterator[_Host]:
        """Wait for ``origin``'s turn; the caller calls ``started()`` as its request starts."""
        host = self._hosts.get(origin)
        if host is None:
            if len(self._hosts) >= self.PRUNE_AT:
                self._prune(delay)
            host = self._hosts[origin] = _Host()
        host.users += 1
        try:
            async with host.lock:
                loop = asyncio.get_running_loop()
                if host.last_start is not None:
                    wait = host.last_start + delay - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                yield host
        finally:
            host.users -= 1

    def _prune(self, delay: float) -> None:
        """Forget hosts nobody is waiting for whose latest request is past the delay."""
        now = asyncio.get_running_loop().time()
        for origin, host in list(self._hosts.items()):
            if not host.users and (host.last_start is None or now - host.last_start >= delay):
                del self._hosts[origin]


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HostGates] = (
    weakref.WeakKeyDictionary()
)


def host_gates() -> HostGates:
    """The running event loop's ``HostGates`` (asyncio locks belong to one loop)."""
    loop = asyncio.get_running_loop()
    gates = _GATES.get(loop)
    if gates is None:
        gates = _GATES[loop] = HostGates()
    return gates


class Fetcher:
    """Fetches URLs for one gather or discovery run (see the module docstring)."""

    def __init__(
        self,
        client: httpx2.AsyncClient,
        settings: Settings,
        *,
        resolver: Resolver | None = None,
        network: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        """``client`` fetches the operator's sources; checked requests go through pinned
        clients of the fetcher's own (closed by ``aclose``), which resolve with
        ``resolver`` and connect through ``network`` (see ``PinnedBackend``)."""
        self._client = client
        self._settings = settings
        self._resolver = resolver
        self._network = network
        self._pinned: dict[bool, httpx2.AsyncClient] = {}
        self._slots = asyncio.Semaphore(settings.fetch_concurrency)
        self._timeout = httpx2.Timeout(settings.http_timeout)
        self._deadline = settings.http_timeout * TOTAL_TIMEOUT_FACTOR

    async def get(
        self,
        url: str,
        *,
        origin: Origin | None,
        trusted: bool = False,
        chat: bool = False,
        validators: Validators | None = None,
        accept: str = PAGE_ACCEPT,
    ) -> Fetched:
        """GET ``url``.

        ``trusted`` marks an operator-given URL: its first request is not
        checked by the SSRF guard. ``origin`` is the ``host:port`` of the
        trusted source this URL belongs to; redirects (and an untrusted
        ``url``) must be public or on that origin. ``chat`` marks a URL of a
        feed added from chat (the feed or one of its pages): with ``trusted``
        or on ``origin`` it is still fetched through a pinned client (any
        address allowed), and a refusal names the chat rule.
        """
        here = origin_of(url) if self._settings.host_delay > 0 else None
        if here is None:  # politeness off (or a URL without a host, refused below)
            return await self._fetch(url, origin, trusted, chat, validators, accept, None)
        async with host_gates().turn(here, self._settings.host_delay) as host:
            return await self._fetch(url, origin, trusted, chat, validators, accept, host)

    async def _fetch(
        self,
        url: str,
        origin: Origin | None,
        trusted: bool,
        chat: bool,
        validators: Validators | None,
        accept: str,
        host: _Host | None,
    ) -> Fetched:
        """``get`` once its host's turn came: a fetch slot, the deadline, plain errors."""
        async with self._slots:
            if host is not None:
                host.started()
            try:
                async with asyncio.timeout(self._deadline):
                    return await self._get(url, origin, trusted, chat, validators, accept)
            except TimeoutError:
                raise SourceFetchError(
                    url,
                    f"timed out: {url} did not answer in full within {self._deadline:g} s",
                ) from None
            except httpx2.TimeoutException as exc:
                phase = {
                    httpx2.ConnectTimeout: "connecting to",
                    httpx2.ReadTimeout: "waiting for data from",
                    httpx2.WriteTimeout: "sending the request to",
                    httpx2.PoolTimeout: "waiting for a free connection to",
                }.get(type(exc), "fetching from")
                raise SourceFetchError(
                    url,
                    f"timed out after {self._settings.http_timeout:g} s {phase} {_host(url)}",
                ) from None
            except httpx2.ConnectError as exc:
                raise SourceFetchError(
                    url, f"could not connect to {_host(url)}: {_connect_reason(exc)}"
                ) from None
            except httpx2.DecodingError as exc:
                raise SourceFetchError(
                    url, f"could not decode the response body from {_host(url)} ({exc})"
                ) from None
            except httpx2.InvalidURL as exc:
                raise SourceFetchError(url, f"invalid URL {url!r} ({exc})") from None
            except httpx2.HTTPError as exc:
                detail = str(exc) or type(exc).__name__
                raise SourceFetchError(
                    url, f"the request to {_host(url)} failed ({detail})"
                ) from None

    async def aclose(self) -> None:
        """Close the pinned clients (the operator's client is the caller's to close)."""
        pinned, self._pinned = list(self._pinned.values()), {}
        for client in pinned:
            await client.aclose()

    def _pinned_client(self, public_only: bool) -> httpx2.AsyncClient:
        client = self._pinned.get(public_only)
        if client is None:
            backend = PinnedBackend(self._resolver, public_only=public_only, network=self._network)
            client = self._pinned[public_only] = pinned_client(self._settings, backend)
        return client

    def _client_for(
        self, url: str, origin: Origin | None, trusted: bool, chat: bool
    ) -> httpx2.AsyncClient:
        """The client that may fetch ``url`` (raises ``SourceFetchError`` for a bad URL)."""
        if not trusted:
            here = origin_of(url)
            if here is None:
                raise SourceFetchError(
                    url, f"refused to fetch {url}: only http(s) URLs with a host"
                )
            trusted = origin is not None and here == origin
        if not trusted:
            return self._pinned_client(public_only=True)
        return self._pinned_client(public_only=False) if chat else self._client

    async def _get(
        self,
        url: str,
        origin: Origin | None,
        trusted: bool,
        chat: bool,
        validators: Validators | None,
        accept: str,
    ) -> Fetched:
        headers = {"User-Agent": self._settings.user_agent, "Accept": accept}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        current = url
        check = not trusted
        for _hop in range(self._settings.max_redirects + 1):
            client = self._client_for(current, origin, not check, chat)
            request = client.build_request("GET", current, headers=headers, timeout=self._timeout)
            try:
                response = await client.send(request, stream=True, follow_redirects=False)
            except NonPublicAddress as found:
                rule = CHAT_RULE if chat and not self._settings.allow_private_sources else LINK_RULE
                raise SourceRefusedError(
                    current, f"refused to fetch {current}: {found.what}; {rule}"
                ) from None
            try:
                if response.has_redirect_location:
                    target = urljoin(current, response.headers["location"])
                    log.debug("%s redirects (%d) to %s", current, response.status_code, target)
                    current, check = target, True
                    continue
                if response.status_code == 304:
                    return Fetched(str(response.url), 304, response.headers, b"")
                if not response.is_success:
                    raise self._status_error(url, current, response)
                body = await self._read_capped(url, response)
                return Fetched(str(response.url), response.status_code, response.headers, body)
            finally:
                await response.aclose()
        raise SourceFetchError(
            url,
            f"too many redirects: {url} redirected more than {self._settings.max_redirects} times",
        )

    @staticmethod
    def _status_error(url: str, current: str, response: httpx2.Response) -> SourceHTTPError:
        status = response.status_code
        where = current if current == url else f"{current} (redirected from {url})"
        message = f"HTTP {status} {response.reason_phrase or ''}".rstrip() + f" from {where}"
        retry_after = response.headers.get("retry-after")
        if retry_after:
            message += f" (Retry-After: {retry_after})"
        return SourceHTTPError(url, status, message)

    async def _read_capped(self, url: str, response: httpx2.Response) -> bytes:
        limit = self._settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise SourceTooLargeError(url, limit)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise SourceTooLargeError(url, limit)
        return bytes(body)
