"""Teaser items completed from their article pages, and the guard on third-party links."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.domain import Article, SourceError
from bot.sources.extract import MAX_TREE_ELEMENTS
from bot.sources.gather import GatherResult, gather
from bot.sources.labels import host_outlet
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.news import (
    FLOOD_PARAGRAPHS,
    STRIKE_PARAGRAPHS,
    Item,
    article_page,
    html_paragraphs,
    redirect,
    requested_paths,
    rss,
    serve_feed,
    serve_page,
    teaser,
)

HEADLINE = "Calder dock strike enters third day as ships queue offshore"


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


async def _gather_one_teaser(
    server: FakeHTTPServer, link: str, settings: Settings | None = None
) -> tuple[Article, list[SourceError], GatherResult]:
    item = Item(HEADLINE, link, teaser(STRIKE_PARAGRAPHS, words=35))
    feed = serve_feed(server, "/world/rss.xml", rss([item]))
    result = await gather([feed], settings or _settings())
    (article,) = result.articles
    return article, result.errors, result


async def test_teaser_is_replaced_by_the_page_text_and_site_name(
    http_server: FakeHTTPServer,
) -> None:
    link = serve_page(http_server, "/2026/11/20/strike", article_page(HEADLINE, STRIKE_PARAGRAPHS))
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert errors == []
    assert article.full_text is True
    assert article.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert "cookies" not in article.text
    assert "Related stories" not in article.text
    assert article.outlet == "The Harbor Ledger"
    assert article.url == article.original_url == link
    page_request = http_server.requests[1]
    assert page_request.path == "/2026/11/20/strike"
    assert page_request.headers["Accept"].startswith("text/html")
    assert page_request.headers["User-Agent"].startswith("briefbot/")


async def test_item_source_element_wins_over_the_page_site_name(
    http_server: FakeHTTPServer,
) -> None:
    link = serve_page(http_server, "/a", article_page(HEADLINE, STRIKE_PARAGRAPHS))
    item = Item(
        HEADLINE + " - Wire Service",
        link,
        teaser(STRIKE_PARAGRAPHS),
        source=("https://wire.example", "Wire Service"),
    )
    feed = serve_feed(http_server, "/rss", rss([item]))
    (article,) = (await gather([feed], _settings())).articles
    assert article.outlet == "Wire Service"
    assert article.title == HEADLINE


async def test_without_site_name_the_outlet_is_the_host_without_www(
    http_server: FakeHTTPServer,
) -> None:
    link = serve_page(http_server, "/a", article_page(HEADLINE, STRIKE_PARAGRAPHS, site_name=None))
    article, _, _ = await _gather_one_teaser(http_server, link)
    assert article.outlet == "127.0.0.1"
    assert host_outlet("https://www.harborledger.example/world/a?x=1") == "harborledger.example"


async def test_full_content_items_are_not_fetched_again(http_server: FakeHTTPServer) -> None:
    item = Item(HEADLINE, http_server.url("/a"), content=html_paragraphs(STRIKE_PARAGRAPHS))
    feed = serve_feed(http_server, "/rss", rss([item]))
    result = await gather([feed], _settings())
    assert result.articles[0].full_text is True
    assert requested_paths(http_server) == ["/rss"]


async def test_page_fetching_can_be_switched_off(http_server: FakeHTTPServer) -> None:
    link = serve_page(http_server, "/a", article_page(HEADLINE, STRIKE_PARAGRAPHS))
    article, errors, _ = await _gather_one_teaser(
        http_server, link, _settings(BRIEFBOT_FETCH_FULL_TEXT=False)
    )
    assert errors == []
    assert article.full_text is False
    assert article.text.startswith("Dock workers at the Port of Calder")
    assert article.text.endswith("\u2026")
    assert requested_paths(http_server) == ["/world/rss.xml"]


async def test_missing_page_keeps_the_teaser_and_names_the_page(
    http_server: FakeHTTPServer,
) -> None:
    link = http_server.url("/2026/11/20/gone")
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert article.full_text is False
    assert article.text.startswith("Dock workers at the Port of Calder extended")
    assert [(e.source, e.error) for e in errors] == [
        (link, f"HTTP 404 Not Found from {link}; kept the teaser text instead")
    ]


async def test_slow_page_times_out_and_keeps_the_teaser(http_server: FakeHTTPServer) -> None:
    http_server.route("GET", "/slow", Reply(200, "<html></html>", delay=1.0))
    article, errors, _ = await _gather_one_teaser(
        http_server, http_server.url("/slow"), _settings(BRIEFBOT_HTTP_TIMEOUT=0.2)
    )
    assert article.full_text is False
    (error,) = errors
    assert error.error.startswith("timed out after 0.2 s waiting for data from 127.0.0.1:")
    assert error.error.endswith("; kept the teaser text instead")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(200, b"%PDF-1.7\n...", {"Content-Type": "application/pdf"}),
            "the page is not HTML (content type application/pdf)",
        ),
        (
            Reply(
                200,
                "<!DOCTYPE html><html><head><title>Loading</title></head><body>"
                '<div id="app"></div><script src="/bundle.js"></script></body></html>',
                {"Content-Type": "text/html"},
            ),
            "no article text could be extracted from the page",
        ),
        (
            Reply(200, "", {"Content-Type": "text/html"}),
            "the page is empty",
        ),
    ],
)
async def test_pages_without_article_text_keep_the_teaser(
    http_server: FakeHTTPServer, reply: Reply, message: str
) -> None:
    http_server.route("GET", "/story", reply)
    link = http_server.url("/story")
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert article.full_text is False
    assert [(e.source, e.error) for e in errors] == [
        (link, f"{message}; kept the teaser text instead")
    ]


async def test_paywalled_page_shorter_than_the_teaser_keeps_the_teaser(
    http_server: FakeHTTPServer,
) -> None:
    link = serve_page(http_server, "/paywall", article_page(HEADLINE, ["Subscribe to read."]))
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert article.full_text is False
    assert "shorter than the feed teaser" in errors[0].error


async def test_pages_over_the_size_cap_are_not_extracted(http_server: FakeHTTPServer) -> None:
    huge = article_page(HEADLINE, STRIKE_PARAGRAPHS * 40)
    link = serve_page(http_server, "/huge", huge)
    cap = len(huge.encode()) - 1
    article, errors, _ = await _gather_one_teaser(
        http_server, link, _settings(BRIEFBOT_MAX_BODY_BYTES=cap)
    )
    assert article.full_text is False
    assert [(e.source, e.error) for e in errors] == [
        (link, f"response body exceeds the size cap of {cap} bytes; kept the teaser text instead")
    ]


async def test_pages_with_too_many_elements_are_not_extracted(
    http_server: FakeHTTPServer,
) -> None:
    tags = "<b></b>" * (MAX_TREE_ELEMENTS + 1)
    link = serve_page(
        http_server, "/tags", article_page(HEADLINE, STRIKE_PARAGRAPHS, extra_body=tags)
    )
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert article.full_text is False
    assert f"HTML elements, over the limit of {MAX_TREE_ELEMENTS}" in errors[0].error


async def test_latin1_page_without_declared_charset_is_decoded_cleanly(
    http_server: FakeHTTPServer,
) -> None:
    paragraphs = [
        "Les dockers du port de Calder ont prolongé la grève mercredi, laissant plus de "
        "quarante porte-conteneurs au mouillage après l'échec des négociations salariales.",
        "« Nous ne sommes pas contre les nouvelles grues, nous sommes contre le fait d'être "
        "remplacés par elles », a déclaré Mara Okafor, secrétaire générale du syndicat.",
    ] * 3
    page = article_page("Grève au port de Calder", paragraphs, lang="fr", charset="")
    http_server.route(
        "GET", "/fr", Reply(200, page.encode("latin-1"), {"Content-Type": "text/html"})
    )
    item = Item("Grève au port de Calder", http_server.url("/fr"), "<p>La grève continue…</p>")
    feed = serve_feed(http_server, "/rss", rss([item], title="Le Courrier", language="fr"))
    (article,) = (await gather([feed], _settings())).articles
    assert article.full_text is True
    assert article.text.split("\n\n") == paragraphs
    assert article.language == "fr"


async def test_links_to_another_internal_server_are_refused(http_server: FakeHTTPServer) -> None:
    with FakeHTTPServer() as internal:
        link = serve_page(internal, "/secret", article_page(HEADLINE, STRIKE_PARAGRAPHS))
        article, errors, _ = await _gather_one_teaser(http_server, link)
        assert internal.requests == []
    assert article.full_text is False
    (error,) = errors
    assert error.source == link
    assert error.error.startswith(f"refused to fetch {link}: 127.0.0.1 is a loopback address")
    assert error.error.endswith("kept the teaser text instead")


async def test_a_different_name_for_the_feed_host_is_checked_like_any_other(
    http_server: FakeHTTPServer,
) -> None:
    serve_page(http_server, "/a", article_page(HEADLINE, STRIKE_PARAGRAPHS))
    link = http_server.url("/a").replace("127.0.0.1", "localhost")
    article, errors, _ = await _gather_one_teaser(http_server, link)
    assert article.full_text is False
    assert "localhost resolves to" in errors[0].error
    assert "loopback" in errors[0].error
    assert requested_paths(http_server) == ["/world/rss.xml"]


async def test_page_redirects_are_checked_at_every_hop(http_server: FakeHTTPServer) -> None:
    with FakeHTTPServer() as internal:
        secret = serve_page(internal, "/secret", article_page(HEADLINE, STRIKE_PARAGRAPHS))
        serve_page(http_server, "/moved-here", article_page(HEADLINE, FLOOD_PARAGRAPHS))
        http_server.route("GET", "/short/1", redirect("/moved-here", 301))
        http_server.route("GET", "/short/2", redirect(secret))
        items = [
            Item("Same host", http_server.url("/short/1"), teaser(FLOOD_PARAGRAPHS)),
            Item("Elsewhere", http_server.url("/short/2"), teaser(STRIKE_PARAGRAPHS)),
        ]
        feed = serve_feed(http_server, "/rss", rss(items))
        result = await gather([feed], _settings())
        assert internal.requests == []
    same_host, elsewhere = result.articles
    assert same_host.full_text is True
    assert same_host.text.split("\n\n") == FLOOD_PARAGRAPHS
    assert same_host.url == http_server.url("/short/1")
    assert elsewhere.full_text is False
    assert [e.source for e in result.errors] == [http_server.url("/short/2")]
    assert result.errors[0].error.startswith(f"refused to fetch {secret}")


async def test_hostile_page_is_parsed_without_fetching_or_running_anything(
    http_server: FakeHTTPServer,
) -> None:
    with FakeHTTPServer() as tracker:
        hostile = f"""
<script src="{tracker.url("/evil.js")}"></script>
<script>fetch("{tracker.url("/beacon")}"); document.write("INJECTED TEXT");</script>
<img src="{tracker.url("/pixel.gif")}"><iframe src="{tracker.url("/frame")}"></iframe>
<link rel="stylesheet" href="{tracker.url("/style.css")}">
<meta http-equiv="refresh" content="0; url={tracker.url("/refresh")}">
<object data="{tracker.url("/plugin")}"></object>
"""
        page = article_page(HEADLINE, STRIKE_PARAGRAPHS, extra_body=hostile)
        link = serve_page(http_server, "/story", page)
        article, errors, _ = await _gather_one_teaser(http_server, link)
        assert tracker.requests == []
    assert errors == []
    assert article.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert "INJECTED" not in article.text
