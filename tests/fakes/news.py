"""Build realistic news feeds and article pages, and serve them with ``FakeHTTPServer``.

Feeds follow what publishers emit: RSS 2.0 with ``content:encoded``,
``dc:creator``, ``media:content`` and an ``atom:link rel="self"``; Atom 1.0
with HTML content; article pages with navigation, cookie banners, scripts,
JSON-LD, related links and footers around the article body.

Fixture files under ``tests/fixtures/sources`` may contain ``__BASE__``,
replaced by the fake server's base URL (``http://127.0.0.1:PORT``) when loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

from tests.fakes.http import FakeHTTPServer, Recorded, Reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
BASE_TOKEN = "__BASE__"

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

STRIKE_PARAGRAPHS = [
    "Dock workers at the Port of Calder extended their strike into a third day on Wednesday, "
    "leaving more than forty container ships anchored offshore as talks between the union and "
    "the port authority broke down over pay and the pace of automation.",
    "The Calder Dockers' Union said its members had rejected a revised offer of a 6 percent "
    "raise over two years, arguing that it did nothing to protect jobs threatened by the "
    "automated cranes the authority plans to install at the northern terminal next spring.",
    "\u201cWe are not against new equipment, we are against being thrown out by it,\u201d said "
    "Mara Okafor, the union's general secretary, speaking to reporters outside the terminal "
    "gates where several hundred workers had gathered since dawn.",
    "The port authority said the offer was \u201cfair and final\u201d and warned that the "
    "stoppage was costing the regional economy an estimated 12 million euros a day. Its chief "
    "executive, Peter Lindqvist, called on the union to return to mediation on Thursday.",
    "Retailers have begun to warn of empty shelves. The Northern Grocers Association said fresh "
    "fruit deliveries had fallen by a third since Monday and that some supermarkets would "
    "start rationing imported produce by the weekend if the ships could not be unloaded.",
    "Transport minister Elena Varga said the government would not intervene for now but was "
    "monitoring the situation closely. She urged both sides to settle before the holiday "
    "season, when the port normally handles its heaviest traffic of the year.",
    "The strike is the longest at Calder since 2009, when a nine-day walkout over pensions "
    "ended with an agreement brokered by an independent arbitrator.",
]

FLOOD_PARAGRAPHS = [
    "Emergency services evacuated more than 300 homes along the River Aire on Tuesday night "
    "after two days of heavy rain pushed water levels to their highest point in a decade.",
    "The environment agency issued six severe flood warnings, meaning there is a danger to "
    "life, for villages downstream of Kettleby, where the river burst its banks shortly "
    "after 10 p.m. and flooded the main road into the town centre.",
    "\u201cThe water came up faster than anyone expected,\u201d said Tom Hale, a shopkeeper "
    "whose premises sit two streets from the river. \u201cBy midnight it was above the "
    "doorstep and we were carrying stock upstairs by torchlight.\u201d",
    "Forecasters expect a further 40 millimetres of rain to fall on already saturated ground "
    "by Thursday, and the agency said levels could keep rising until the weekend. Rest "
    "centres have been opened in two schools and the town hall.",
    "The county council said it had deployed temporary barriers along the embankment in the "
    "town centre and asked residents in low-lying streets to move valuables and vehicles to "
    "higher ground while the warnings remain in place.",
    "Rail services between Kettleby and the coast were suspended after water covered the "
    "tracks near the old mill, and the operator said replacement buses would run for the "
    "rest of the week.",
]


def words_in(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_text(name: str, base: str = "") -> str:
    """A fixture file as text, ``__BASE__`` replaced by ``base``."""
    return (FIXTURES / name).read_text(encoding="utf-8").replace(BASE_TOKEN, base)


@dataclass
class Item:
    """One feed item; ``None`` fields are left out of the XML."""

    title: str | None
    link: str | None
    description: str | None = None  # HTML
    content: str | None = None  # HTML, for content:encoded / Atom content
    guid: str | None = None
    published: datetime | None = None
    author: str | None = "Staff reporter"
    source: tuple[str, str] | None = None  # (url, outlet) as Google News writes it


def rss(
    items: list[Item],
    *,
    title: str = "The Harbor Ledger \u2013 World",
    site: str = "https://harborledger.example",
    language: str = "en-gb",
    encoding: str | None = "UTF-8",
) -> str:
    """An RSS 2.0 document in the shape publishers emit."""
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    parts = [
        declaration,
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:media="http://search.yahoo.com/mrss/">\n<channel>\n',
        f"<title>{escape(title)}</title>\n<link>{site}/world</link>\n",
        f'<atom:link href="{site}/world/rss.xml" rel="self" type="application/rss+xml"/>\n',
        "<description>World news from The Harbor Ledger</description>\n",
        f"<language>{language}</language>\n<ttl>15</ttl>\n",
    ]
    for item in items:
        parts.append("<item>\n")
        if item.title is not None:
            parts.append(f"  <title>{escape(item.title, quote=False)}</title>\n")
        if item.link is not None:
            parts.append(f"  <link>{escape(item.link)}</link>\n")
        if item.guid is not None:
            parts.append(f'  <guid isPermaLink="false">{escape(item.guid)}</guid>\n')
        if item.published is not None:
            parts.append(f"  <pubDate>{format_datetime(item.published)}</pubDate>\n")
        if item.author:
            parts.append(f"  <dc:creator><![CDATA[{item.author}]]></dc:creator>\n")
        if item.description is not None:
            parts.append(f"  <description><![CDATA[{item.description}]]></description>\n")
        if item.content is not None:
            parts.append(f"  <content:encoded><![CDATA[{item.content}]]></content:encoded>\n")
        if item.source is not None:
            url, outlet = item.source
            parts.append(f'  <source url="{escape(url)}">{escape(outlet)}</source>\n')
        parts.append(
            f'  <media:content url="{site}/images/{sum(map(ord, item.title or "")) % 9999}.jpg" '
            'medium="image" width="1024" height="576"/>\n</item>\n'
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts)


def atom(
    items: list[Item], *, title: str = "Northgate Post", site: str = "https://northgate.example"
) -> str:
    """An Atom 1.0 document with HTML content, as blogs and some newsrooms publish."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"'
        ' xml:lang="en">\n',
        f"<title>{escape(title)}</title>\n<id>{site}/</id>\n",
        f'<link rel="alternate" type="text/html" href="{site}/"/>\n',
        f'<link rel="self" href="{site}/feed.atom"/>\n<updated>2026-11-19T09:00:00Z</updated>\n',
    ]
    for item in items:
        parts.append("<entry>\n")
        if item.title is not None:
            parts.append(f'  <title type="html">{escape(item.title)}</title>\n')
        if item.link is not None:
            parts.append(f'  <link rel="alternate" type="text/html" href="{escape(item.link)}"/>\n')
        parts.append(f"  <id>{escape(item.guid or item.link or 'urn:uuid:none')}</id>\n")
        if item.published is not None:
            parts.append(f"  <published>{item.published.isoformat()}</published>\n")
            parts.append(f"  <updated>{item.published.isoformat()}</updated>\n")
        if item.author:
            parts.append(f"  <author><name>{escape(item.author)}</name></author>\n")
        if item.description is not None:
            parts.append(f'  <summary type="html">{escape(item.description)}</summary>\n')
        if item.content is not None:
            parts.append(f'  <content type="html">{escape(item.content)}</content>\n')
        parts.append("</entry>\n")
    parts.append("</feed>\n")
    return "".join(parts)


def html_paragraphs(paragraphs: list[str]) -> str:
    return "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)


def teaser(paragraphs: list[str], *, words: int = 30, ending: str = "\u2026") -> str:
    """An HTML teaser the way CMSs cut one: the first words, an ellipsis, a "Read more" link."""
    text = " ".join(" ".join(paragraphs).split()[:words])
    return f"<p>{escape(text, quote=False)}{ending}</p>"


def article_page(
    headline: str,
    paragraphs: list[str],
    *,
    site_name: str | None = "The Harbor Ledger",
    lang: str = "en",
    charset: str = "utf-8",
    extra_body: str = "",
) -> str:
    """A full article page with the clutter around the story that real pages have."""
    og_site = f'<meta property="og:site_name" content="{escape(site_name)}">' if site_name else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="{charset}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(headline)} | {escape(site_name or "News")}</title>
{og_site}
<meta property="og:title" content="{escape(headline)}">
<meta property="og:type" content="article">
<link rel="stylesheet" href="/static/site.css">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "{escape(headline)}", "datePublished": "2026-11-19T08:00:00Z"}}</script>
<script src="/static/analytics.js" async></script>
</head>
<body>
<div class="cookie-banner">We use cookies to improve your experience.
 <a href="/privacy">Manage preferences</a> <button>Accept all</button></div>
<header><a class="logo" href="/">{escape(site_name or "News")}</a>
<nav><ul><li><a href="/world">World</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe</a></li></ul></nav></header>
<main>
<article>
<h1>{escape(headline)}</h1>
<p class="byline">By Staff reporter &middot; <time datetime="2026-11-19T08:00:00Z">19 November
 2026</time></p>
<figure><img src="/images/lead.jpg" alt=""><figcaption>Photograph: agency</figcaption></figure>
<div class="article-body">{html_paragraphs(paragraphs)}</div>
</article>
{extra_body}
<aside class="related"><h2>Related stories</h2><ul>
<li><a href="/world/related-one">Shipping rates climb as ports slow</a></li>
<li><a href="/world/related-two">What the automation row means for dock jobs</a></li></ul></aside>
</main>
<footer><p>&copy; 2026 {escape(site_name or "News")}. All rights reserved.</p>
<a href="/terms">Terms</a> <a href="/contact">Contact us</a></footer>
<script>document.querySelector('.cookie-banner').remove();</script>
</body>
</html>
"""


def conditional(
    body: str, etag: str, last_modified: str, content_type: str
) -> Callable[[Recorded], Reply]:
    """A handler that honours If-None-Match / If-Modified-Since like a real feed server."""

    def handle(request: Recorded) -> Reply:
        headers = {"ETag": etag, "Last-Modified": last_modified}
        if request.headers.get("If-None-Match") == etag or (
            request.headers.get("If-Modified-Since") == last_modified
        ):
            return Reply(304, b"", headers)
        return Reply(200, body, {"Content-Type": content_type, **headers})

    return handle


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": location})


def serve_feed(server: FakeHTTPServer, path: str, body: str | bytes, kind: str = RSS_TYPE) -> str:
    server.route("GET", path, Reply(200, body, {"Content-Type": kind}))
    return server.url(path)


def serve_page(server: FakeHTTPServer, path: str, html: str | bytes) -> str:
    server.route("GET", path, Reply(200, html, {"Content-Type": HTML_TYPE}))
    return server.url(path)


def requested_paths(server: FakeHTTPServer) -> list[str]:
    return [request.path for request in server.requests]


@contextlib.asynccontextmanager
async def drip_server(byte_interval: float = 0.05) -> AsyncIterator[str]:
    """A server that sends headers at once, then one body byte every ``byte_interval`` s
    for ever: each read succeeds in time, only an overall deadline stops the client."""
    handlers: set[asyncio.Task[None]] = set()

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss>")
            await writer.drain()
            while True:
                await asyncio.sleep(byte_interval)
                writer.write(b" ")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await drip(reader, writer)
        finally:
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}/feed.xml"
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
