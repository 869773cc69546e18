"""Local sources: JSON Lines files, feed files, directories and file:// URLs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.sources.gather import GatherResult, gather
from bot.sources.local import JSONL_FILE_BODIES
from tests.fakes.http import FakeHTTPServer
from tests.fakes.news import (
    FIXTURES,
    STRIKE_PARAGRAPHS,
    Item,
    article_page,
    rss,
    serve_page,
    teaser,
)


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


def _copy(name: str, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(FIXTURES / name, to / name))


async def test_jsonl_articles_are_full_text_and_bad_lines_are_reported_by_number(
    tmp_path: Path,
) -> None:
    path = str(_copy("newsroom_articles.jsonl", tmp_path))
    result = await gather([path], _settings())

    assert [a.outlet for a in result.articles] == [
        "The Harbor Ledger",
        "Northgate Post",
        "Valley Gazette",
    ]
    strike, flood, shops = result.articles
    assert (
        strike.url
        == strike.original_url
        == ("https://harborledger.example/2026/11/20/calder-port-strike-third-day")
    )
    assert strike.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert all(a.full_text and a.source == path for a in result.articles)
    assert strike.published_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert flood.published_at == datetime(2026, 11, 19, 22, 10, tzinfo=UTC)  # +01:00 -> UTC
    assert shops.published_at == datetime(2026, 11, 20, 16, 45, tzinfo=UTC)  # no zone: UTC
    assert (strike.language, flood.language) == ("en", None)
    assert [(e.source, e.error) for e in result.errors] == [
        (path, "line 3: invalid JSON (Expecting ',' delimiter at column 172); line skipped"),
        (path, "line 4: missing or empty 'text'; line skipped"),
    ]


async def test_jsonl_line_problems_are_named(tmp_path: Path) -> None:
    good = '{"url": "https://a.example/1", "title": "T", "text": "Body.", "outlet": "A"}'
    lines = [
        good,
        "",
        '["not", "an", "object"]',
        '{"url": "ftp://a.example/x", "title": "T", "text": "B"}',
        '{"url": "https://a.example/2", "title": "T", "text": "B", "published_at": "yesterday"}',
        '{"url": "https://a.example/3", "title": 7, "text": "B"}',
        good,
    ]
    path = tmp_path / "wire.ndjson"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe broken bytes\n")

    result = await gather([str(path)], _settings())

    assert [a.url for a in result.articles] == ["https://a.example/1"]
    assert result.articles[0].outlet == "A"
    assert [e.error for e in result.errors] == [
        "line 3: expected a JSON object, got list; line skipped",
        "line 4: 'url' must be an absolute http(s) URL, got 'ftp://a.example/x'; line skipped",
        "line 5: 'published_at' is not an ISO-8601 date-time: 'yesterday'; line skipped",
        "line 6: 'title' must be a string, got int; line skipped",
        "line 8: not UTF-8 (invalid start byte at byte 0); line skipped",
        "skipped 1 duplicate line (same url as an earlier line)",
    ]


async def test_missing_outlet_falls_back_to_the_host(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"url": "https://www.valley-gazette.example/x", "title": "T", "text": "B"}\n')
    (article,) = (await gather([str(path)], _settings())).articles
    assert article.outlet == "valley-gazette.example"
    assert article.published_at is None


async def test_a_directory_gathers_every_source_file_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    _copy("newsroom_articles.jsonl", folder).rename(folder / "b_newsroom.jsonl")
    _copy("harbor_ledger_world.rss", folder).rename(folder / "a_ledger.rss")
    (folder / "notes.txt").write_text("not a source")
    (folder / "c_empty.xml").write_text(rss([]))

    result = await gather([str(folder)], _settings())

    assert [a.outlet for a in result.articles] == [
        "harborledger.example",
        "harborledger.example",
        "The Harbor Ledger",
        "Northgate Post",
        "Valley Gazette",
    ]
    assert {a.source for a in result.articles} == {str(folder)}
    assert [(Path(e.source).name, e.error.split(":")[0]) for e in result.errors] == [
        ("b_newsroom.jsonl", "line 3"),
        ("b_newsroom.jsonl", "line 4"),
        ("c_empty.xml", "feed has no items"),
    ]


async def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    path = _copy("harbor_ledger_world.rss", tmp_path / "with space")
    url = path.as_uri()
    result = await gather([url], _settings())
    assert result.errors == []
    assert [a.source for a in result.articles] == [url, url]


async def test_bad_local_specs_are_reported_and_the_others_still_gathered(
    tmp_path: Path,
) -> None:
    good = str(_copy("harbor_ledger_world.rss", tmp_path))
    (tmp_path / "story.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    missing = str(tmp_path / "nope.rss")
    text_file, empty_dir = str(tmp_path / "story.txt"), str(tmp_path / "empty")

    result = await gather(
        [missing, good, text_file, empty_dir, "ftp://feeds.example/world.rss"], _settings()
    )

    assert len(result.articles) == 2
    assert [(e.source, e.error) for e in result.errors] == [
        (missing, f"no such file or directory: {missing}"),
        (
            text_file,
            f"unsupported file type '.txt' for {text_file}: use .xml, .rss or .atom for feeds "
            "and .jsonl or .ndjson for JSON Lines",
        ),
        (
            empty_dir,
            f"the directory {empty_dir} has no feed (.xml, .rss, .atom) or JSON Lines "
            "(.jsonl, .ndjson) files",
        ),
        (
            "ftp://feeds.example/world.rss",
            "unsupported source scheme 'ftp': give an http(s) feed URL or a local feed/JSON "
            "Lines file or directory",
        ),
    ]


async def test_local_feed_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    path = _copy("harbor_ledger_world.rss", tmp_path)
    result = await gather([str(path)], _settings(BRIEFBOT_MAX_BODY_BYTES=1000))
    assert [e.error for e in result.errors] == ["response body exceeds the size cap of 1000 bytes"]


async def test_teaser_links_in_a_local_feed_may_not_reach_internal_addresses(
    tmp_path: Path, http_server: FakeHTTPServer
) -> None:
    link = serve_page(http_server, "/story", article_page("Strike", STRIKE_PARAGRAPHS))
    path = tmp_path / "saved.rss"
    path.write_text(rss([Item("Strike", link, teaser(STRIKE_PARAGRAPHS))]))

    result = await gather([str(path)], _settings())

    assert http_server.requests == []
    (article,) = result.articles
    assert article.full_text is False
    assert result.errors[0].source == link
    assert "127.0.0.1 is a loopback address" in result.errors[0].error


# ---------------------------------------------------------------- size caps and file kinds
# A local source is read like an HTTP body: regular files only, at most the body cap per
# line (and per feed file), at most JSONL_FILE_BODIES body caps per JSON Lines file.


def _record(n: int, padding: int = 0) -> str:
    fields = {"url": f"https://a.example/{n}", "title": f"T{n}", "text": "Body.", "outlet": "A"}
    if padding:
        fields["padding"] = "x" * padding
    return json.dumps(fields)


@pytest.fixture
def make_fifo() -> Iterator[Callable[[Path], Path]]:
    """Makes named pipes nobody writes to; if a read ever blocks on one, the test's end
    frees it (opening the writing end), so a regression fails instead of hanging."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for path in made:
        with contextlib.suppress(OSError):  # ENXIO: no reader is waiting, as it should be
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def _gather_guarded(specs: list[str], settings: Settings) -> GatherResult:
    # a hang guard, not a speed check: the old code blocked forever opening a FIFO
    return await asyncio.wait_for(gather(specs, settings), timeout=60)


async def test_named_pipes_and_devices_are_refused_without_reading_them(
    tmp_path: Path, make_fifo: Callable[[Path], Path]
) -> None:
    fifo = make_fifo(tmp_path / "pipe.jsonl")
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    feed_pipe = make_fifo(tmp_path / "pipe.rss")
    good = str(_copy("harbor_ledger_world.rss", tmp_path))

    result = await _gather_guarded([str(fifo), str(zero), str(feed_pipe), good], _settings())

    assert len(result.articles) == 2
    assert [(e.source, e.error) for e in result.errors] == [
        (
            str(fifo),
            f"{fifo} is a named pipe (FIFO), not a regular file; a local source must be a "
            "regular file",
        ),
        (
            str(zero),
            f"{zero} (a link to /dev/zero) is a character device, not a regular file; a local "
            "source must be a regular file",
        ),
        (
            str(feed_pipe),
            f"{feed_pipe} is a named pipe (FIFO), not a regular file; a local source must be a "
            "regular file",
        ),
    ]


async def test_directory_entries_that_are_not_regular_files_are_reported_one_by_one(
    tmp_path: Path, make_fifo: Callable[[Path], Path]
) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    make_fifo(folder / "a_pipe.jsonl")
    (folder / "b_random.jsonl").symlink_to("/dev/urandom")
    (folder / "c_wire.jsonl").write_text(_record(1) + "\n")
    (folder / "d_gone.rss").symlink_to(folder / "missing.rss")

    result = await _gather_guarded([str(folder)], _settings())

    assert [a.url for a in result.articles] == ["https://a.example/1"]
    assert [(Path(e.source).name, e.error.split(",")[0]) for e in result.errors] == [
        ("a_pipe.jsonl", f"{folder / 'a_pipe.jsonl'} is a named pipe (FIFO)"),
        (
            "b_random.jsonl",
            f"{folder / 'b_random.jsonl'} (a link to /dev/urandom) is a character device",
        ),
        ("d_gone.rss", f"could not read {folder / 'd_gone.rss'}: No such file or directory"),
    ]


async def test_a_jsonl_line_over_the_body_cap_is_skipped_and_the_rest_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wire.jsonl"
    path.write_text("\n".join([_record(1), _record(2, padding=5_000), _record(3)]) + "\n")

    result = await gather([str(path)], _settings(BRIEFBOT_MAX_BODY_BYTES=1_000))

    assert [a.url for a in result.articles] == ["https://a.example/1", "https://a.example/3"]
    assert [e.error for e in result.errors] == [
        "line 2: longer than the size cap of 1,000 bytes; line skipped"
    ]


async def test_a_jsonl_file_over_its_cap_is_read_up_to_the_cap(tmp_path: Path) -> None:
    cap = 1_000
    line = _record(0, padding=900)
    count = JSONL_FILE_BODIES * cap // (len(line) + 1) + 50  # well past the file cap
    path = tmp_path / "archive.jsonl"
    path.write_text("".join(_record(n, padding=900) + "\n" for n in range(1, count + 1)))

    result = await gather([str(path)], _settings(BRIEFBOT_MAX_BODY_BYTES=cap))

    kept = len(result.articles)
    assert 0 < kept < count
    assert [a.url for a in result.articles] == [
        f"https://a.example/{n}" for n in range(1, kept + 1)
    ]
    assert [e.error for e in result.errors] == [
        f"stopped at line {kept + 1}: the file is over the size cap of "
        f"{JSONL_FILE_BODIES * cap:,} bytes for JSON Lines files ({JSONL_FILE_BODIES} times "
        "BRIEFBOT_MAX_BODY_BYTES); the lines before it were read"
    ]
