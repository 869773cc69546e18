"""Feeds added from chat reach only public addresses, over connections pinned to the
address that was checked (no DNS rebinding); BRIEFBOT_ALLOW_PRIVATE_SOURCES lifts it.

The resolver and the network are fakes (``tests.fakes.network``): a public address is
routed to the local server, so a test can tell which address a connection went to.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.domain import SourceError
from bot.sources.gather import gather
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.network import PUBLIC, FakeNetwork, FakeResolver
from tests.fakes.news import (
    HTML_TYPE,
    STRIKE_PARAGRAPHS,
    Item,
    article_page,
    html_paragraphs,
    redirect,
    rss,
    serve_feed,
    teaser,
)

TLS = Path(__file__).parent / "fixtures" / "tls"

CHAT_RULE = (
    "feeds added from chat must be on public addresses "
    "(set BRIEFBOT_ALLOW_PRIVATE_SOURCES=true to allow)"
)


def _settings(**overrides: Any) -> Settings:
    return load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, **overrides)


def _full_feed(server: FakeHTTPServer, path: str = "/feed.xml") -> str:
    """A feed of one full-text item on ``server``; returns the path's URL on 127.0.0.1."""
    item = Item("Calder strike day three", "https://harbor.example/strike")
    item.content = html_paragraphs(STRIKE_PARAGRAPHS)
    return serve_feed(server, path, rss([item]))


def _as(server: FakeHTTPServer, host: str, path: str = "/feed.xml") -> str:
    """``path`` on ``server`` under another host name (which only the fake resolver knows)."""
    return server.url(path).replace("127.0.0.1", host)


def _refusal(url: str, what: str) -> str:
    return f"refused to fetch {url}: {what}; {CHAT_RULE}"


async def test_a_chat_feed_whose_name_resolves_to_loopback_is_refused_and_never_reached(
    http_server: FakeHTTPServer,
) -> None:
    _full_feed(http_server)
    url = _as(http_server, "feed.example")
    resolver, network = FakeResolver({"feed.example": "127.0.0.1"}), FakeNetwork()
    result = await gather([url], _settings(), untrusted=[url], resolver=resolver, network=network)
    assert result.articles == []
    assert result.errors == [
        SourceError(
            url,
            f"refused to fetch {url}: feed.example resolves to 127.0.0.1, a loopback address; "
            "feeds added from chat must be on public addresses "
            "(set BRIEFBOT_ALLOW_PRIVATE_SOURCES=true to allow)",
        )
    ]
    assert http_server.requests == []
    assert network.connects == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address to refuse
        ("240.0.0.1", "a reserved, non-public address"),
    ],
)
async def test_chat_feeds_on_internal_addresses_are_refused(
    http_server: FakeHTTPServer, address: str, reason: str
) -> None:
    url = _as(http_server, "feed.example")
    network = FakeNetwork()
    result = await gather(
        [url],
        _settings(),
        untrusted=[url],
        resolver=FakeResolver({"feed.example": address}),
        network=network,
    )
    assert result.errors == [
        SourceError(url, _refusal(url, f"feed.example resolves to {address}, {reason}"))
    ]
    assert network.connects == []


async def test_every_address_of_a_chat_feed_is_checked_not_just_the_first(
    http_server: FakeHTTPServer,
) -> None:
    url = _as(http_server, "feed.example")
    network = FakeNetwork()
    resolver = FakeResolver({"feed.example": [PUBLIC, "192.168.1.20"]})
    result = await gather([url], _settings(), untrusted=[url], resolver=resolver, network=network)
    assert result.errors == [
        SourceError(url, _refusal(url, "feed.example resolves to 192.168.1.20, a private address"))
    ]
    assert network.connects == []


async def test_a_chat_feed_given_as_an_internal_address_is_refused(
    http_server: FakeHTTPServer,
) -> None:
    url = _full_feed(http_server)
    result = await gather([url], _settings(), untrusted=[url], resolver=FakeResolver({}))
    assert result.errors == [SourceError(url, _refusal(url, "127.0.0.1 is a loopback address"))]
    assert http_server.requests == []
    ipv6 = f"http://[::1]:{http_server.url().rsplit(':', 1)[1].rstrip('/')}/feed.xml"
    result = await gather([ipv6], _settings(), untrusted=[ipv6], resolver=FakeResolver({}))
    assert result.errors == [SourceError(ipv6, _refusal(ipv6, "::1 is a loopback address"))]


async def test_a_chat_feed_on_a_public_address_is_fetched_from_that_address(
    http_server: FakeHTTPServer,
) -> None:
    _full_feed(http_server)
    url = _as(http_server, "news.example")
    resolver, network = FakeResolver({"news.example": PUBLIC}), FakeNetwork()
    result = await gather([url], _settings(), untrusted=[url], resolver=resolver, network=network)
    assert result.errors == []
    assert [a.title for a in result.articles] == ["Calder strike day three"]
    port = int(url.split(":")[2].split("/")[0])
    assert network.connects == [(PUBLIC, port)]
    assert resolver.calls == ["news.example"]
    (request,) = http_server.requests
    assert request.headers["Host"] == f"news.example:{port}"


async def test_a_rebinding_name_cannot_bring_a_chat_feeds_pages_to_loopback(
    http_server: FakeHTTPServer,
) -> None:
    """The name answers a public address first and loopback the second time: the first
    connection goes to the public address, the second is refused before connecting."""
    page = "/2026/strike"
    http_server.route(
        "GET",
        page,
        Reply(200, article_page("Strike", STRIKE_PARAGRAPHS), {"Content-Type": HTML_TYPE}),
    )
    link = _as(http_server, "news.example", page)
    http_server.route(
        "GET",
        "/feed.xml",
        Reply(
            200,
            rss([Item("Strike", link, teaser(STRIKE_PARAGRAPHS))]),
            {"Content-Type": "application/rss+xml", "Connection": "close"},
        ),
    )
    url = _as(http_server, "news.example")
    resolver = FakeResolver.rebinding("news.example", PUBLIC, "127.0.0.1")
    network = FakeNetwork()
    result = await gather(
        [url],
        load_settings(),  # pages are fetched
        untrusted=[url],
        resolver=resolver,
        network=network,
    )
    (article,) = result.articles
    assert article.full_text is False  # kept the teaser
    assert result.errors == [
        SourceError(
            link,
            _refusal(link, "news.example resolves to 127.0.0.1, a loopback address")
            + "; kept the teaser text instead",
        )
    ]
    assert [request.path for request in http_server.requests] == ["/feed.xml"]
    assert [address for address, _ in network.connects] == [PUBLIC]
    assert resolver.calls == ["news.example", "news.example"]  # one per connection


async def test_a_chat_feed_redirecting_from_a_public_host_to_a_private_one_is_refused(
    http_server: FakeHTTPServer,
) -> None:
    _full_feed(http_server, "/real.xml")
    target = _as(http_server, "internal.example", "/real.xml")
    http_server.route("GET", "/feed.xml", redirect(target))
    url = _as(http_server, "news.example")
    resolver = FakeResolver({"news.example": PUBLIC, "internal.example": "10.0.0.5"})
    network = FakeNetwork()
    result = await gather([url], _settings(), untrusted=[url], resolver=resolver, network=network)
    assert result.errors == [
        SourceError(
            url, _refusal(target, "internal.example resolves to 10.0.0.5, a private address")
        )
    ]
    assert [request.path for request in http_server.requests] == ["/feed.xml"]
    assert [address for address, _ in network.connects] == [PUBLIC]


async def test_a_chat_feeds_links_to_its_own_internal_host_are_refused_too(
    http_server: FakeHTTPServer,
) -> None:
    """No "same host:port as the source" exemption: nothing about a chat feed is trusted."""
    with FakeHTTPServer() as internal:
        link = internal.url("/story")
        internal.route(
            "GET",
            "/story",
            Reply(200, article_page("S", STRIKE_PARAGRAPHS), {"Content-Type": HTML_TYPE}),
        )
        serve_feed(http_server, "/feed.xml", rss([Item("Strike", link, teaser(STRIKE_PARAGRAPHS))]))
        url = _as(http_server, "news.example")
        result = await gather(
            [url],
            load_settings(),
            untrusted=[url],
            resolver=FakeResolver({"news.example": PUBLIC}),
            network=FakeNetwork(),
        )
        assert internal.requests == []
    assert [e.error for e in result.errors] == [
        _refusal(link, "127.0.0.1 is a loopback address") + "; kept the teaser text instead"
    ]


async def test_a_refused_chat_feed_leaves_the_operators_loopback_feeds_working(
    http_server: FakeHTTPServer,
) -> None:
    operator = _full_feed(http_server, "/operator.xml")
    chat = _as(http_server, "feed.example")
    result = await gather(
        [operator, chat],
        _settings(),
        untrusted=[chat],
        resolver=FakeResolver({"feed.example": "127.0.0.1"}),
        network=FakeNetwork(),
    )
    assert [a.source for a in result.articles] == [operator]
    assert [e.source for e in result.errors] == [chat]
    assert [request.path for request in http_server.requests] == ["/operator.xml"]


async def test_allow_private_sources_fetches_the_chat_feed_from_the_resolved_address(
    http_server: FakeHTTPServer,
) -> None:
    """The OS cannot resolve feed.example: the request reaching the server proves the
    connection went to the address the injected resolver gave, once."""
    _full_feed(http_server)
    url = _as(http_server, "feed.example")
    resolver, network = FakeResolver({"feed.example": "127.0.0.1"}), FakeNetwork()
    result = await gather(
        [url],
        _settings(BRIEFBOT_ALLOW_PRIVATE_SOURCES=True),
        untrusted=[url],
        resolver=resolver,
        network=network,
    )
    assert result.errors == []
    assert [a.title for a in result.articles] == ["Calder strike day three"]
    (request,) = http_server.requests
    port = int(url.split(":")[2].split("/")[0])
    assert request.headers["Host"] == f"feed.example:{port}"
    assert resolver.calls == ["feed.example"]
    assert network.connects == [("127.0.0.1", port)]


async def test_allow_private_sources_fetches_a_loopback_chat_feed_like_the_operators(
    http_server: FakeHTTPServer,
) -> None:
    url = _full_feed(http_server)
    result = await gather([url], _settings(BRIEFBOT_ALLOW_PRIVATE_SOURCES=True), untrusted=[url])
    assert result.errors == []
    assert len(result.articles) == 1
    assert [request.path for request in http_server.requests] == ["/feed.xml"]


async def test_an_unresolvable_chat_feed_is_a_clear_error(http_server: FakeHTTPServer) -> None:
    url = _as(http_server, "nowhere.example")
    result = await gather([url], _settings(), untrusted=[url], resolver=FakeResolver({}))
    (error,) = result.errors
    host = url.split("/")[2]
    assert error.error == f"could not connect to {host}: the host name could not be resolved"


async def test_an_operator_feeds_third_party_link_is_resolved_once_per_connection(
    http_server: FakeHTTPServer,
) -> None:
    """The old gap: a link checked by one look-up and connected by another. Now the
    connection goes to the checked address; a rebinding second answer is refused."""
    pages = ["/a", "/b"]
    for page in pages:
        http_server.route(
            "GET",
            page,
            Reply(
                200,
                article_page("Strike", STRIKE_PARAGRAPHS),
                {"Content-Type": HTML_TYPE, "Connection": "close"},
            ),
        )
    links = [_as(http_server, "rebind.example", page) for page in pages]
    feed = serve_feed(
        http_server,
        "/feed.xml",
        rss([Item(f"Strike {n}", link, teaser(STRIKE_PARAGRAPHS)) for n, link in enumerate(links)]),
    )
    resolver = FakeResolver.rebinding("rebind.example", PUBLIC, "127.0.0.1")
    network = FakeNetwork()
    result = await gather([feed], load_settings(), resolver=resolver, network=network)
    assert sorted(a.full_text for a in result.articles) == [False, True]
    (error,) = result.errors
    assert error.error == (
        f"refused to fetch {error.source}: rebind.example resolves to 127.0.0.1, a loopback "
        "address; links from feeds, redirects and discovery results may only reach public "
        "addresses or the source's own host:port; kept the teaser text instead"
    )
    # The feed is the operator's (its own client); the one page connection made went to
    # the checked address.
    assert [address for address, _ in network.connects] == [PUBLIC]
    assert resolver.calls == ["rebind.example", "rebind.example"]
    refused = error.source.replace(_as(http_server, "rebind.example", ""), "")
    assert sorted(r.path for r in http_server.requests) == sorted(
        ["/feed.xml", *(page for page in pages if page != refused)]
    )


class _TLSServer(FakeHTTPServer):
    """The fake server over TLS with a certificate for feed.example (tests/fixtures/tls)."""

    def start(self) -> _TLSServer:
        super().start()
        assert self._server is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(TLS / "feed.example.pem", TLS / "feed.example.key")
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        return self


@pytest.mark.parametrize("host", ["feed.example", "other.example"])
async def test_a_pinned_tls_connection_verifies_the_certificate_against_the_host_name(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket goes to 127.0.0.1, but SNI and verification use the name: the
    certificate for feed.example (no IP in it) is accepted for feed.example only."""
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "ca.pem"))
    with _TLSServer() as server:
        _full_feed(server)
        url = _as(server, host).replace("http://", "https://")
        result = await gather(
            [url],
            _settings(BRIEFBOT_ALLOW_PRIVATE_SOURCES=True),
            untrusted=[url],
            resolver=FakeResolver({host: "127.0.0.1"}),
            network=FakeNetwork(),
        )
        requests = list(server.requests)
    if host == "feed.example":
        assert result.errors == []
        assert len(result.articles) == 1
        assert requests[0].headers["Host"] == url.split("/")[2]
    else:
        port = url.split(":")[2].split("/")[0]
        assert result.errors == [
            SourceError(
                url,
                f"could not connect to other.example:{port}: its TLS certificate was refused "
                "(Hostname mismatch, certificate is not valid for 'other.example'.)",
            )
        ]
        assert requests == []
