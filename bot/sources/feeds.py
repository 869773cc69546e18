"""Parse RSS and Atom feeds (with feedparser) into ``FeedItem`` objects.

A feed body is decoded by ``bot.sources.charset`` (so a mislabelled Latin-1
feed does not turn into mojibake), re-encoded as UTF-8 and handed to
feedparser as a stream - never as a string, which feedparser would treat as a
file name or URL to open.

Teaser heuristic (``is_teaser``): an item's best text (the longer of
``content:encoded``/Atom content and the summary, as plain text) is only a
teaser when it has fewer than ``TEASER_WORDS`` words, or when it ends the way
truncated excerpts do: "…", "...", "[…]", "Read more", "Continue reading",
"(more…)". Teasers are completed from the article page by the gatherer.

Feed problems that lose items are returned as ``ParsedFeed.problems`` (the
gatherer reports them); a feed that yields nothing raises
``SourceFormatError`` with a sentence saying why.
"""

from __future__ import annotations

import calendar
import io
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from bot.errors import SourceFormatError
from bot.sources.charset import as_utf8_xml, decode_xml
from bot.sources.extract import html_to_text
from bot.sources.labels import primary_language

log = logging.getLogger(__name__)

TEASER_WORDS = 120
"""Item texts shorter than this many words are teasers (the page is fetched)."""

_ELLIPSIS_ENDINGS = ("…", "...", "[…]", "[...]", "(more…)", "(more...)")
_PHRASE_ENDINGS = (
    "read more",
    "continue reading",
    "read the full story",
    "read the full article",
    "read full story",
    "read full article",
    "keep reading",
)
_TRAILING_DECORATION = " \t\n»›→>.:-–—)]"
_HTML_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_BARE_AMPERSAND = re.compile(r"&(?![A-Za-z][A-Za-z0-9]*;|#[0-9]+;|#[xX][0-9A-Fa-f]+;)")
_ROOT_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One usable feed item: an absolute http(s) link and its plain text."""

    link: str
    title: str
    text: str
    is_teaser: bool
    published_at: datetime | None = None
    outlet: str | None = None  # the item's <source> element (Google News style)
    language: str | None = None


@dataclass(slots=True)
class ParsedFeed:
    items: list[FeedItem]
    problems: list[str] = field(default_factory=list)
    title: str | None = None


def is_teaser(text: str) -> bool:
    """True when the text looks like an excerpt rather than the whole article (see module doc)."""
    stripped = text.rstrip()
    if len(stripped.split()) < TEASER_WORDS:
        return True
    lowered = stripped.lower()
    if lowered.endswith(_ELLIPSIS_ENDINGS):
        return True
    return lowered.rstrip(_TRAILING_DECORATION).endswith(_PHRASE_ENDINGS)


def _plain(detail: Any, value: str, *, prose: bool = False) -> str:
    """Plain text of a feedparser text construct (HTML is converted, plain text cleaned);
    ``prose`` for an item's text (see ``bot.sources.extract.html_to_text``)."""
    kind = str(detail.get("type", "")) if detail else ""
    if kind in _HTML_TYPES or (not kind and "<" in value):
        return html_to_text(value, prose=prose)
    return html_to_text(value.replace("&", "&amp;").replace("<", "&lt;"), prose=prose)


def _usable_link(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    link = raw.strip()
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _best_text(entry: Any) -> str:
    candidates = [
        _plain(part, str(part.get("value", "")), prose=True)
        for part in entry.get("content", []) or []
        if part.get("value")
    ]
    if entry.get("summary"):
        candidates.append(_plain(entry.get("summary_detail"), str(entry["summary"]), prose=True))
    return max(candidates, key=len, default="")


def _title(entry: Any, outlet: str | None) -> str:
    raw = entry.get("title")
    if not raw:
        return ""
    title = _plain(entry.get("title_detail"), str(raw)).replace("\n\n", " ")
    if outlet and title.endswith(f" - {outlet}") and len(title) > len(outlet) + 3:
        title = title[: -len(outlet) - 3].rstrip()  # Google News appends " - Outlet"
    return title


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _refuse_non_feed(text: str, source: str) -> None:
    if not text.strip():
        raise SourceFormatError(source, "expected an RSS or Atom feed, got an empty response")
    if _HTML_START.match(text[:4096]):
        raise SourceFormatError(source, "expected an RSS or Atom feed, got an HTML page")
    start = text.lstrip()[:1]
    if start in ("{", "["):
        raise SourceFormatError(source, "expected an RSS or Atom feed, got JSON")
    if start != "<":
        raise SourceFormatError(source, "expected an RSS or Atom feed, got text that is not XML")


def parse_feed(
    body: bytes,
    *,
    source: str,
    base_url: str | None = None,
    header_charset: str | None = None,
    allow_empty: bool = False,
) -> ParsedFeed:
    """Parse a feed body into items; raise ``SourceFormatError`` when nothing usable is in it.

    ``base_url`` resolves relative item links (the feed's final URL); local
    files have none, so their relative links are skipped as unusable.
    ``allow_empty`` accepts a well-formed feed without items (a search with
    no results) instead of reporting "feed has no items".
    """
    text = decode_xml(body, header_charset)
    _refuse_non_feed(text, source)
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    # "Q&A" unescaped is the commonest feed error; escaping it keeps the strict parser
    # in charge instead of feedparser's loose one (which would turn it into "Q&A;").
    text = _BARE_AMPERSAND.sub("&amp;", text)
    parsed = feedparser.parse(io.BytesIO(as_utf8_xml(text)), response_headers=headers)
    entries = list(parsed.get("entries", []))
    if not entries:
        if parsed.get("bozo"):
            raise SourceFormatError(
                source,
                f"the feed is malformed XML ({parsed.get('bozo_exception')}) and no items "
                "could be recovered",
            )
        if not parsed.get("version"):
            root = _ROOT_ELEMENT.search(re.sub(r"<[?!][^>]*>", "", text[:4096]))
            what = f"an XML document with root <{root.group(1)}>" if root else "no XML at all"
            raise SourceFormatError(source, f"expected an RSS or Atom feed, got {what}")
        if allow_empty:
            return ParsedFeed([], [], parsed.get("feed", {}).get("title"))
        raise SourceFormatError(source, "feed has no items")
    feed_language = primary_language(parsed.get("feed", {}).get("language"))
    items: list[FeedItem] = []
    seen_links: set[str] = set()
    seen_guids: set[str] = set()
    duplicates = linkless = 0
    for entry in entries:
        link = _usable_link(entry.get("link"))
        if link is None:
            linkless += 1
            continue
        guid = entry.get("id") or None
        if link in seen_links or (guid is not None and guid in seen_guids):
            duplicates += 1
            continue
        seen_links.add(link)
        if guid is not None:
            seen_guids.add(guid)
        source_info = entry.get("source") or {}
        outlet = html_to_text(str(source_info.get("title") or "")) or None
        title = _title(entry, outlet)
        body_text = _best_text(entry)
        if outlet and " ".join(body_text.replace(outlet, " ").split()) == title:
            body_text = title  # Google News: the description is the headline plus the outlet
        items.append(
            FeedItem(
                link=link,
                title=title,
                text=body_text,
                is_teaser=is_teaser(body_text),
                published_at=_when(entry),
                outlet=outlet,
                language=feed_language,
            )
        )
    if parsed.get("bozo"):
        log.warning(
            "%s: the feed is malformed XML (%s); kept %s that could be read",
            source,
            parsed.get("bozo_exception"),
            _plural(len(items), "item"),
        )
    problems = []
    if duplicates:
        problems.append(
            f"skipped {_plural(duplicates, 'duplicate item')} (same link or guid as an "
            "earlier item in the feed)"
        )
    if linkless:
        problems.append(f"skipped {_plural(linkless, 'item')} without a usable http(s) link")
    title = parsed.get("feed", {}).get("title")
    return ParsedFeed(items, problems, str(title) if title else None)
