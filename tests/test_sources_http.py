"""Gathering feeds over HTTP: headers, conditional GET, failures, limits and concurrency."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.errors import StoreError
from bot.sources.gather import InMemoryFeedState, gather
from tests.fakes.http import FakeHTTPServer, Recorded, Reply
from tests.fakes.news import (
    ATOM_TYPE,
    FLOOD_PARAGRAPHS,
    HTML_TYPE,
    RSS_TYPE,
    STRIKE_PARAGRAPHS,
    Item,
    article_page,
    atom,
    conditional,
    drip_server,
    fixture_text,
    html_paragraphs,
    redirect,
    rss,
    serve_feed,
)


def _settings(**overrides: Any) -> Settings:
    return load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, **overrides)


def _full_feed(base: str) -> str:
    return rss(
        [
            Item(
                "Calder strike day three",
                f"{base}/strike",
                content=html_paragraphs(STRIKE_PARAGRAPHS),
            ),
            Item("River Aire floods", f"{base}/flood", content=html_paragraphs(FLOOD_PARAGRAPHS)),
        ]
    )


async def test_feed_items_become_articles_credited_to_their_feed(
    http_server: FakeHTTPServer,
) -> None:
    url = serve_feed(http_server, "/world/rss.xml", fixture_text("harbor_ledger_world.rss"))
    result = await gather([url], _settings())
    assert result.errors == []
    first, second = result.articles
    assert (
        first.url
        == first.original_url
        == ("https://harborledger.example/2026/11/20/calder-port-strike-third-day")
    )
    assert first.source == second.source == url
    assert first.outlet == "harborledger.example"
    assert first.full_text is True
    assert first.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert second.title == "Hundreds evacuated as River Aire bursts its banks"


async def test_requests_carry_the_configured_user_agent_and_ask_for_feeds(
    http_server: FakeHTTPServer,
) -> None:
    url = serve_feed(
        http_server, "/feed.atom", atom([Item("A", "https://n.example/a", "<p>x</p>")]), ATOM_TYPE
    )
    await gather([url], _settings(BRIEFBOT_USER_AGENT="briefbot-test/9 (+ops@example.org)"))
    (request,) = http_server.requests
    assert request.headers["User-Agent"] == "briefbot-test/9 (+ops@example.org)"
    assert "application/rss+xml" in request.headers["Accept"]


async def test_conditional_get_remembers_validators_and_304_means_nothing_new(
    http_server: FakeHTTPServer,
) -> None:
    etag, modified = '"ledger-41"', "Fri, 20 Nov 2026 14:31:00 GMT"
    http_server.route(
        "GET", "/rss", conditional(_full_feed("https://l.example"), etag, modified, RSS_TYPE)
    )
    state = InMemoryFeedState()
    url = http_server.url("/rss")

    first = await gather([url], _settings(), feed_state=state)
    assert len(first.articles) == 2
    assert state.get(url) == (etag, modified)
    assert "If-None-Match" not in http_server.requests[0].headers

    second = await gather([url], _settings(), feed_state=state)
    assert second.articles == []
    assert second.errors == []
    sent = http_server.requests[1].headers
    assert sent["If-None-Match"] == etag
    assert sent["If-Modified-Since"] == modified


async def test_changed_validators_replace_the_remembered_ones(http_server: FakeHTTPServer) -> None:
    url = http_server.url("/rss")
    http_server.route(
        "GET",
        "/rss",
        Reply(200, _full_feed("https://l.example"), {"Content-Type": RSS_TYPE, "ETag": '"v2"'}),
    )
    state = InMemoryFeedState()
    state.set(url, '"v1"', "Thu, 19 Nov 2026 10:00:00 GMT")
    result = await gather([url], _settings(), feed_state=state)
    assert len(result.articles) == 2
    assert state.get(url) == ('"v2"', None)


async def test_http_errors_are_reported_per_source_and_the_run_carries_on(
    http_server: FakeHTTPServer,
) -> None:
    http_server.route("GET", "/broken", Reply(500, "oops", {"Content-Type": "text/plain"}))
    http_server.route("GET", "/busy", Reply(503, "", {"Retry-After": "120"}))
    good = serve_feed(http_server, "/good", _full_feed("https://l.example"))
    missing, broken, busy = (http_server.url(p) for p in ("/missing", "/broken", "/busy"))

    result = await gather([missing, good, broken, busy], _settings())

    assert len(result.articles) == 2
    assert [(e.source, e.error) for e in result.errors] == [
        (missing, f"HTTP 404 Not Found from {missing}"),
        (broken, f"HTTP 500 Internal Server Error from {broken}"),
        (busy, f"HTTP 503 Service Unavailable from {busy} (Retry-After: 120)"),
    ]


async def test_connection_refused_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rss"
    result = await gather([url], _settings())
    assert [(e.source, e.error) for e in result.errors] == [
        (url, f"could not connect to 127.0.0.1:{port}: connection refused")
    ]


async def test_a_slow_server_times_out_with_the_configured_timeout(
    http_server: FakeHTTPServer,
) -> None:
    http_server.route("GET", "/slow", Reply(200, "<rss/>", {"Content-Type": RSS_TYPE}, delay=1.0))
    url = http_server.url("/slow")
    result = await gather([url], _settings(BRIEFBOT_HTTP_TIMEOUT=0.2))
    assert result.articles == []
    (error,) = result.errors
    assert error.source == url
    assert error.error == f"timed out after 0.2 s waiting for data from {url.split('/')[2]}"


async def test_a_server_dripping_bytes_is_cut_off_by_the_overall_deadline() -> None:
    async with drip_server(byte_interval=0.05) as url:
        result = await gather([url], _settings(BRIEFBOT_HTTP_TIMEOUT=0.2))
    (error,) = result.errors
    assert error.error == f"timed out: {url} did not answer in full within 0.4 s"


async def test_bodies_over_the_size_cap_are_refused_with_or_without_content_length(
    http_server: FakeHTTPServer,
) -> None:
    big = _full_feed("https://l.example")
    assert len(big) > 2000
    declared = serve_feed(http_server, "/declared", big)
    http_server.route(
        "GET",
        "/streamed",
        Reply(
            200,
            headers={"Content-Type": RSS_TYPE},
            chunks=[big[i : i + 500].encode() for i in range(0, len(big), 500)],
        ),
    )
    bomb = gzip.compress(b"<rss>" + b" " * 50_000 + b"</rss>")
    assert len(bomb) < 2000
    http_server.route(
        "GET", "/gzip", Reply(200, bomb, {"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"})
    )
    urls = [declared, http_server.url("/streamed"), http_server.url("/gzip")]

    result = await gather(urls, _settings(BRIEFBOT_MAX_BODY_BYTES=2000))

    assert result.articles == []
    assert [(e.source, e.error) for e in result.errors] == [
        (url, "response body exceeds the size cap of 2000 bytes") for url in urls
    ]


async def test_a_streamed_feed_without_content_length_is_read_in_full(
    http_server: FakeHTTPServer,
) -> None:
    body = _full_feed("https://l.example").encode()
    http_server.route(
        "GET",
        "/streamed",
        Reply(
            200,
            headers={"Content-Type": RSS_TYPE},
            chunks=[body[i : i + 700] for i in range(0, len(body), 700)],
        ),
    )
    result = await gather([http_server.url("/streamed")], _settings())
    assert result.errors == []
    assert [a.title for a in result.articles] == ["Calder strike day three", "River Aire floods"]


async def test_redirects_are_followed_up_to_the_limit(http_server: FakeHTTPServer) -> None:
    serve_feed(http_server, "/feeds/world.xml", _full_feed("https://l.example"))
    http_server.route("GET", "/rss", redirect("/old-rss", 301))
    http_server.route("GET", "/old-rss", redirect(http_server.url("/feeds/world.xml")))
    http_server.route("GET", "/loop-a", redirect("/loop-b"))
    http_server.route("GET", "/loop-b", redirect("/loop-a"))
    ok, looping = http_server.url("/rss"), http_server.url("/loop-a")

    result = await gather([ok, looping], _settings(BRIEFBOT_MAX_REDIRECTS=2))

    assert len(result.articles) == 2
    assert {a.source for a in result.articles} == {ok}
    assert [(e.source, e.error) for e in result.errors] == [
        (looping, f"too many redirects: {looping} redirected more than 2 times")
    ]


async def test_a_feed_redirecting_to_another_internal_server_is_refused(
    http_server: FakeHTTPServer,
) -> None:
    with FakeHTTPServer() as internal:
        serve_feed(internal, "/admin/feed", _full_feed("https://l.example"))
        http_server.route("GET", "/rss", redirect(internal.url("/admin/feed")))
        url, target = http_server.url("/rss"), internal.url("/admin/feed")
        result = await gather([url], _settings())
        assert internal.requests == []
    (error,) = result.errors
    assert error.source == url
    assert error.error.startswith(f"refused to fetch {target}: 127.0.0.1 is a loopback address")


async def test_html_page_at_a_feed_url_and_empty_feeds_are_reported(
    http_server: FakeHTTPServer,
) -> None:
    http_server.route(
        "GET", "/news", Reply(200, article_page("Home", ["Welcome."]), {"Content-Type": HTML_TYPE})
    )
    empty = serve_feed(http_server, "/empty.xml", rss([]))
    page = http_server.url("/news")
    result = await gather([page, empty], _settings())
    assert [(e.source, e.error) for e in result.errors] == [
        (page, "expected an RSS or Atom feed, got an HTML page"),
        (empty, "feed has no items"),
    ]


async def test_latin1_feed_served_as_utf8_has_no_mojibake(http_server: FakeHTTPServer) -> None:
    title = "Grève à Calder : « inacceptable », selon le syndicat"
    body = rss(
        [Item(title, "https://courrier.example/greve", "<p>Grève générale à Calder</p>")],
        title="Le Courrier",
        language="fr",
    ).encode("latin-1")
    url = serve_feed(http_server, "/fr.xml", body, "application/rss+xml; charset=utf-8")
    (article,) = (await gather([url], _settings())).articles
    assert article.title == title
    assert article.text == "Grève générale à Calder"
    assert article.language == "fr"


async def test_fetches_never_exceed_the_concurrency_limit(http_server: FakeHTTPServer) -> None:
    lock = threading.Lock()
    in_flight = peak = 0
    body = _full_feed("https://l.example")

    def slow_feed(request: Recorded) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return Reply(200, body, {"Content-Type": RSS_TYPE})

    urls = []
    for n in range(6):
        http_server.route("GET", f"/feed{n}", slow_feed)
        urls.append(http_server.url(f"/feed{n}"))

    result = await gather(urls, _settings(BRIEFBOT_FETCH_CONCURRENCY=2))

    assert len(result.articles) == 12
    assert peak == 2


async def test_progress_reports_each_source_as_it_finishes(http_server: FakeHTTPServer) -> None:
    good = serve_feed(http_server, "/good", _full_feed("https://l.example"))
    missing = http_server.url("/missing")
    seen: list[tuple[str, int, int]] = []
    await gather([good, missing, good], _settings(), progress=lambda *a: seen.append(a))
    assert sorted(source for source, _, _ in seen) == sorted([good, missing])
    assert [(done, total) for _, done, total in seen] == [(1, 2), (2, 2)]


class _UnreadableState:
    """A feed-state store whose database is gone."""

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        raise StoreError("database is locked")

    def set(self, url: str, etag: str | None, last_modified: str | None) -> None:
        raise StoreError("database is locked")


async def test_unexpected_failures_become_source_errors_not_exceptions(
    http_server: FakeHTTPServer, tmp_path: Path
) -> None:
    url = serve_feed(http_server, "/rss", _full_feed("https://l.example"))
    local = tmp_path / "wire.jsonl"
    local.write_text('{"url": "https://w.example/1", "title": "T", "text": "B", "outlet": "W"}\n')

    def broken_progress(source: str, done: int, total: int) -> None:
        raise RuntimeError("terminal went away")

    result = await gather(
        [url, str(local)], _settings(), feed_state=_UnreadableState(), progress=broken_progress
    )

    assert [a.outlet for a in result.articles] == ["W"]
    assert [(e.source, e.error) for e in result.errors] == [
        (url, "unexpected error: StoreError: database is locked")
    ]
