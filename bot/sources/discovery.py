"""Keyless discovery requests and responses: the GDELT DOC 2.0 API and Google News RSS search.

GDELT (``mode=ArtList&format=json``) answers
``{"articles": [{"url", "url_mobile", "title", "seendate": "20261120T143000Z",
"socialimage", "domain", "language": "English", "sourcecountry"}, ...]}``,
``{}`` when nothing matched, and a plain-text sentence (with status 200) when
it refuses a query ("Your search contained a keyword that was too short",
"Please limit requests to one every 5 seconds"). It gives titles only, so
every result is a teaser whose page the gatherer fetches.

Google News search is an RSS 2.0 feed whose items carry the outlet in
``<source url="https://outlet.example">Outlet</source>``, a title ending in
" - Outlet" and an HTML ``<description>`` repeating the headline; it is parsed
by ``bot.sources.feeds``.

Both are asked for at most ``DISCOVERY_MAX_RESULTS`` results within
``settings.since``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.config import Settings, parse_duration
from bot.errors import SourceFormatError
from bot.sources.charset import decode
from bot.sources.extract import html_to_text
from bot.sources.feeds import FeedItem

DISCOVERY_MAX_RESULTS = 50
"""Results asked of each discovery service (each one may cost a page fetch)."""

GDELT_MIN_TIMESPAN = timedelta(minutes=15)
GDELT_MAX_TIMESPAN = timedelta(days=90)  # the DOC API searches the last three months

# GDELT names the language in English; the domain uses ISO 639-1 codes.
GDELT_LANGUAGES = {
    "arabic": "ar",
    "bengali": "bn",
    "bulgarian": "bg",
    "catalan": "ca",
    "chinese": "zh",
    "croatian": "hr",
    "czech": "cs",
    "danish": "da",
    "dutch": "nl",
    "english": "en",
    "finnish": "fi",
    "french": "fr",
    "german": "de",
    "greek": "el",
    "hebrew": "he",
    "hindi": "hi",
    "hungarian": "hu",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "malay": "ms",
    "norwegian": "no",
    "persian": "fa",
    "polish": "pl",
    "portuguese": "pt",
    "romanian": "ro",
    "russian": "ru",
    "serbian": "sr",
    "slovak": "sk",
    "spanish": "es",
    "swedish": "sv",
    "tamil": "ta",
    "thai": "th",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "vietnamese": "vi",
}

_OR = re.compile(r"\sOR\s")


def _with_query(base: str, params: list[tuple[str, str]]) -> str:
    encoded = "&".join(f"{key}={quote(value, safe=':')}" for key, value in params)
    return f"{base}{'&' if '?' in base else '?'}{encoded}"


def gdelt_timespan(window: timedelta) -> str:
    """A GDELT ``timespan`` for a window ("48h", "7d", "90min"); GDELT's "m" means months."""
    window = min(max(window, GDELT_MIN_TIMESPAN), GDELT_MAX_TIMESPAN)
    minutes = int(window.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}min"


def gdelt_query(query: str) -> str:
    """GDELT needs OR-ed terms inside parentheses: ``a OR b`` becomes ``(a OR b)``."""
    query = " ".join(query.split())
    if _OR.search(query) and not (query.startswith("(") and query.endswith(")")):
        return f"({query})"
    return query


def gdelt_request_url(query: str, settings: Settings) -> str:
    return _with_query(
        settings.gdelt_url,
        [
            ("query", gdelt_query(query)),
            ("mode", "ArtList"),
            ("format", "json"),
            ("maxrecords", str(DISCOVERY_MAX_RESULTS)),
            ("sort", "DateDesc"),
            ("timespan", gdelt_timespan(parse_duration(settings.since))),
        ],
    )


def google_news_window(window: timedelta) -> str:
    """Google News' ``when:`` operator takes whole hours or days ("48h", "7d")."""
    hours = max(1, round(window.total_seconds() / 3600))
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def google_news_request_url(query: str, settings: Settings) -> str:
    window = google_news_window(parse_duration(settings.since))
    return _with_query(
        settings.google_news_url,
        [
            ("q", f"{' '.join(query.split())} when:{window}"),
            ("hl", "en-US"),
            ("gl", "US"),
            ("ceid", "US:en"),
        ],
    )


def _seen(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _gdelt_item(record: Any) -> FeedItem | None:
    if not isinstance(record, dict):
        return None
    url = record.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return None
    raw_title = record.get("title")
    title = html_to_text(raw_title) if isinstance(raw_title, str) else ""
    language = record.get("language")
    return FeedItem(
        link=url.strip(),
        title=title,
        text=title,
        is_teaser=True,
        published_at=_seen(record.get("seendate")),
        outlet=None,
        language=GDELT_LANGUAGES.get(language.strip().lower())
        if isinstance(language, str)
        else None,
    )


def parse_gdelt(body: bytes, *, source: str) -> list[FeedItem]:
    """Items of a GDELT ArtList response (empty when nothing matched).

    Raises ``SourceFormatError`` when GDELT answered with something other
    than JSON (it explains refusals in plain text).
    """
    text = decode(body, ["utf-8"]).strip()
    if not text.startswith("{"):
        snippet = " ".join(html_to_text(text).split())[:200] or "an empty response"
        raise SourceFormatError(source, f"GDELT did not return JSON; it said: {snippet}")
    try:
        data = json.loads(text, strict=False)  # GDELT titles may hold raw control chars
    except json.JSONDecodeError as exc:
        raise SourceFormatError(
            source, f"GDELT returned malformed JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    records = data.get("articles", []) if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise SourceFormatError(source, "GDELT's response has no 'articles' list")
    items: list[FeedItem] = []
    seen: set[str] = set()
    for record in records:
        item = _gdelt_item(record)
        if item is None or item.link in seen:
            continue
        seen.add(item.link)
        items.append(item)
    return items[:DISCOVERY_MAX_RESULTS]
