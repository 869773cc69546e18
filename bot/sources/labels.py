"""Small labels derived from URLs and tags: an outlet name from a host, a language code."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_outlet(url: str) -> str:
    """The outlet of last resort: the URL's host without a leading ``www.``."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    return host.removeprefix("www.") or url


def primary_language(tag: object) -> str | None:
    """The primary subtag of a language tag, lower-cased ("en-US" -> "en"), or ``None``."""
    if not isinstance(tag, str) or not tag.strip():
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None
