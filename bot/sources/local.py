"""Local sources: feed XML files, JSON Lines files and directories of them.

A spec that is not an http(s) URL names a local path (``file://`` URLs too):

- ``.xml``, ``.rss``, ``.atom``: a feed, parsed like a fetched one;
- ``.jsonl``, ``.ndjson``: JSON Lines, one article per line with ``url``,
  ``title``, ``text``, ``outlet`` and ``published_at`` (ISO-8601; a time
  without a zone is taken as UTC), optionally ``language``. These articles
  are full text. ``outlet`` may be left out (the URL's host is used) and so
  may ``published_at`` (unknown). A bad line is reported with its number and
  skipped; the other lines are kept;
- a directory: every such file directly in it, in name order.

Local files are read like HTTP bodies: only regular files (a named pipe, a
device such as ``/dev/zero`` or a socket is refused, also behind a symlink,
and opened only after the check, non-blocking, so a FIFO cannot hang the
gather); a feed file or a JSON Lines line may hold at most the body cap
(``BRIEFBOT_MAX_BODY_BYTES``), and a JSON Lines file at most
``JSONL_FILE_BODIES`` times that (the lines before the cap are kept).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from bot.domain import Article, SourceError
from bot.errors import SourceFetchError, SourceFormatError, SourceTooLargeError
from bot.sources.labels import host_outlet, primary_language
from bot.sources.records import article_problem, shorten, text_problem

FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
SUFFIXES = FEED_SUFFIXES | JSONL_SUFFIXES

JSONL_FILE_BODIES = 200
"""A JSON Lines file may hold this many body caps (1 GB at the default cap of 5 MB)."""

_SKIP_CHUNK = 1 << 16
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a FIFO with no writer would block forever
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)

log = logging.getLogger(__name__)


def is_url_spec(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))


def spec_path(spec: str) -> Path:
    """The local path a non-http spec names; raises ``SourceFetchError`` for other schemes."""
    if spec.lower().startswith("file://"):
        parts = urlsplit(spec)
        if parts.netloc not in ("", "localhost"):
            raise SourceFetchError(spec, f"file URL on another host ({parts.netloc}) is not local")
        return Path(url2pathname(unquote(parts.path)))
    scheme = spec.split("://", 1)[0] if "://" in spec else ""
    if scheme and scheme.isalpha():
        raise SourceFetchError(
            spec,
            f"unsupported source scheme {scheme!r}: give an http(s) feed URL or a local "
            "feed/JSON Lines file or directory",
        )
    return Path(spec).expanduser()


def local_files(spec: str) -> list[Path]:
    """The files a local spec stands for; raises ``SourceFetchError`` when there are none."""
    path = spec_path(spec)
    if path.is_dir():
        # not only regular files: a FIFO or a link to a device is reported when it is read
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not p.is_dir())
        if not files:
            raise SourceFetchError(
                spec,
                f"the directory {path} has no feed (.xml, .rss, .atom) or JSON Lines "
                "(.jsonl, .ndjson) files",
            )
        return files
    if not path.exists():
        raise SourceFetchError(spec, f"no such file or directory: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise SourceFetchError(
            spec,
            f"unsupported file type {path.suffix or '(none)'!r} for {path}: use .xml, .rss or "
            ".atom for feeds and .jsonl or .ndjson for JSON Lines",
        )
    return [path]


def _not_regular(path: Path, mode: int) -> str:
    kind = next((name for test, name in _KINDS if test(mode)), "of an unknown kind")
    target = os.path.realpath(path)
    shown = f"{path} (a link to {target})" if target != os.path.abspath(path) else str(path)
    return f"{shown} is {kind}, not a regular file; a local source must be a regular file"


def open_regular(path: Path, *, where: str) -> BinaryIO:
    """``path`` opened for reading, refusing anything but a regular file (symlinks followed).

    The kind is checked before opening (opening some devices has effects) and again on the
    open descriptor (the path may have changed in between); the open never blocks.
    """
    try:
        before = os.stat(path)
    except OSError as exc:
        raise SourceFetchError(where, f"could not read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        raise SourceFetchError(where, _not_regular(path, before.st_mode))
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise SourceFetchError(where, f"could not read {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise SourceFetchError(where, _not_regular(path, mode))
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_capped(path: Path, limit: int, *, where: str) -> bytes:
    """The bytes of a local feed file, refusing files over the body size cap."""
    with open_regular(path, where=where) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise SourceFetchError(where, f"could not read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise SourceTooLargeError(where, limit)
    return data


def _optional(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {type(value).__name__}")
    return value.strip()


def _required(record: dict[str, Any], key: str) -> str:
    value = _optional(record, key)
    if value is None:
        raise ValueError(f"missing or empty {key!r}")
    return value


def _published(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"'published_at' must be an ISO-8601 string, got {type(value).__name__}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"'published_at' is not an ISO-8601 date-time: {shorten(value)!r}"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"'published_at' is out of range when converted to UTC: {shorten(value)!r}"
        ) from None


def _article(record: Any, source: str) -> Article:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    url = _required(record, "url")
    if problem := text_problem("url", url):
        raise ValueError(problem)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'url' must be an absolute http(s) URL, got {shorten(url)!r}")
    title = _required(record, "title")
    text = _required(record, "text")
    outlet = _optional(record, "outlet") or host_outlet(url)
    return Article(
        url=url,
        original_url=url,
        title=title,
        text=text,
        outlet=outlet,
        published_at=_published(record.get("published_at")),
        full_text=True,
        language=primary_language(_optional(record, "language")),
        source=source,
    )


@dataclass(slots=True)
class LocalResult:
    articles: list[Article] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)


def _line_article(raw: bytes, source: str, max_text_bytes: int) -> Article:
    """The article of one JSON Lines line; raises ``ValueError`` with the problem."""
    try:
        line = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    article = _article(record, source)
    if problem := article_problem(article, max_text_bytes=max_text_bytes):
        raise ValueError(problem)
    return article


def read_jsonl(path: Path, *, source: str, where: str, max_body_bytes: int) -> LocalResult:
    """Articles of a JSON Lines file; each bad line becomes an error naming its number.

    ``source`` is the spec the articles are credited to; ``where`` names the
    file in errors. Every article passes ``bot.sources.records.article_problem``
    (its text at most ``max_body_bytes``, the body cap).
    """
    result = LocalResult()
    seen: set[str] = set()
    duplicates = 0
    file_limit = JSONL_FILE_BODIES * max_body_bytes
    total = 0
    with open_regular(path, where=where) as handle:
        for number in itertools.count(1):
            try:
                raw = handle.readline(max_body_bytes + 1)
                total += len(raw)
                too_long = len(raw) > max_body_bytes and not raw.endswith(b"\n")
                while too_long and total <= file_limit:  # skip the rest of the line
                    rest = handle.readline(_SKIP_CHUNK)
                    total += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
            except OSError as exc:
                raise SourceFetchError(
                    where, f"could not read {path} at line {number}: {exc.strerror or exc}"
                ) from None
            if not raw:
                break
            if total > file_limit:
                result.errors.append(
                    SourceError(
                        where,
                        f"stopped at line {number}: the file is over the size cap of "
                        f"{file_limit:,} bytes for JSON Lines files ({JSONL_FILE_BODIES} times "
                        "BRIEFBOT_MAX_BODY_BYTES); the lines before it were read",
                    )
                )
                break
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if too_long:
                problem = f"longer than the size cap of {max_body_bytes:,} bytes"
            elif not raw.strip():
                continue
            else:
                try:
                    article = _line_article(raw, source, max_body_bytes)
                except ValueError as exc:
                    problem = str(exc)
                except Exception as exc:  # one record must not sink its file, whatever it holds
                    log.exception("unexpected error reading line %d of %s", number, where)
                    problem = f"unexpected error ({type(exc).__name__}: {exc})"
                else:
                    if article.url in seen:
                        duplicates += 1
                        continue
                    seen.add(article.url)
                    result.articles.append(article)
                    continue
            result.errors.append(SourceError(where, f"line {number}: {problem}; line skipped"))
    if duplicates:
        result.errors.append(
            SourceError(
                where,
                f"skipped {duplicates} duplicate line{'' if duplicates == 1 else 's'} "
                "(same url as an earlier line)",
            )
        )
    if not result.articles and not result.errors:
        raise SourceFormatError(where, f"the JSON Lines file {path} has no articles")
    return result
