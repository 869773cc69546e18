"""Prepare a gathered article for storage: canonical URL, content hash, wire origins."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.domain import Article
from bot.stories.canonical import canonical_url
from bot.stories.origins import wire_origins
from bot.text import text_hash


def _utc(moment: datetime | None) -> datetime | None:
    """Times without a zone are taken as UTC (feeds and files omit it more often than not)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def normalize(article: Article) -> Article:
    """A copy of ``article`` with its canonical URL, exact-text hash, wire credits and
    timezone-aware times."""
    original = article.original_url or article.url
    origins = list(article.origins)
    for name in wire_origins(article.text):
        if name not in origins:
            origins.append(name)
    return replace(
        article,
        url=canonical_url(original),
        original_url=original,
        content_hash=text_hash(article.text),
        origins=tuple(origins),
        published_at=_utc(article.published_at),
        fetched_at=_utc(article.fetched_at) or article.fetched_at,
    )
