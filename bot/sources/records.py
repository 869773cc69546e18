"""The checks every gathered article passes before it leaves ``bot.sources``.

A JSON Lines line, a feed item or a discovery result is one record; a record
that would fail later (at hashing, at the database, or in date arithmetic)
is refused here, with a sentence naming the problem, so the gatherer can
report it and keep the rest of its file or feed:

- every string field must be valid Unicode text that encodes as UTF-8 (no
  lone surrogates such as a JSON ``"\\ud800"``) and hold no NUL character
  (PostgreSQL cannot store one);
- sizes: a title of at most ``MAX_TITLE_CHARS`` characters, URLs of at most
  ``MAX_URL_CHARS``, an outlet name of at most ``MAX_OUTLET_CHARS``, and a
  text of at most the body cap (``BRIEFBOT_MAX_BODY_BYTES``) in UTF-8 bytes,
  so no later command loads a giant row;
- ``published_at`` must lie in [``EARLIEST_PUBLISHED``, ``LATEST_PUBLISHED``)
  (a time without a zone is read as UTC, as ``bot.stories.normalize`` does).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import Article

MAX_TITLE_CHARS = 1_000
MAX_URL_CHARS = 8_192
MAX_OUTLET_CHARS = 200
MAX_LANGUAGE_CHARS = 35  # the longest BCP 47 tags in use
EARLIEST_PUBLISHED = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_PUBLISHED = datetime(2100, 1, 1, tzinfo=UTC)

SHOWN_CHARS = 80
"""How much of an offending value an error message quotes."""


def shorten(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` for an error message: at most ``limit`` characters, lone surrogates escaped."""
    shown = value if len(value) <= limit else value[:limit] + "…"
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(key: str, value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"{key!r} holds a lone surrogate ({value[exc.start]!r}) at character {exc.start}, "
            "which is not valid Unicode text"
        )
    if "\x00" in value:
        return f"{key!r} holds a NUL character at character {value.index(chr(0))}"
    return None


def _size_problem(key: str, value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"{key!r} has {len(value):,} characters, over the limit of {limit:,}"
    return None


def published_problem(when: datetime | None) -> str | None:
    """Why ``when`` is not a plausible publication time, or ``None``."""
    if when is None:
        return None
    try:
        moment = when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        return f"'published_at' {when.isoformat()} is out of range when converted to UTC"
    if not EARLIEST_PUBLISHED <= moment < LATEST_PUBLISHED:
        return (
            f"'published_at' {moment.isoformat()} is outside "
            f"{EARLIEST_PUBLISHED.year}-{LATEST_PUBLISHED.year - 1}"
        )
    return None


def article_problem(article: Article, *, max_text_bytes: int) -> str | None:
    """The first reason ``article`` may not be stored, or ``None`` when it is fine."""
    fields: list[tuple[str, str | None]] = [
        ("url", article.url),
        ("original_url", article.original_url),
        ("title", article.title),
        ("outlet", article.outlet),
        ("language", article.language),
        ("source", article.source),
        *(("origins", origin) for origin in article.origins),
        ("text", article.text),
    ]
    for key, value in fields:
        if value is not None and (problem := text_problem(key, value)):
            return problem
    limits = [
        ("url", article.url, MAX_URL_CHARS),
        ("original_url", article.original_url or "", MAX_URL_CHARS),
        ("title", article.title, MAX_TITLE_CHARS),
        ("outlet", article.outlet, MAX_OUTLET_CHARS),
        ("language", article.language or "", MAX_LANGUAGE_CHARS),
    ]
    for key, value, limit in limits:
        if problem := _size_problem(key, value, limit):
            return problem
    size = len(article.text.encode("utf-8"))
    if size > max_text_bytes:
        return f"'text' has {size:,} bytes, over the body size cap of {max_text_bytes:,}"
    return published_problem(article.published_at)
