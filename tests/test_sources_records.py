"""One bad record costs only itself: every article is checked where a source produces it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.adapters.cli import app
from bot.config import Settings, load_settings
from bot.domain import Article
from bot.sources.gather import discover, gather
from bot.sources.records import (
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    article_problem,
)
from bot.stories.normalize import normalize
from tests.fakes.http import FakeHTTPServer, Reply
from tests.fakes.news import STRIKE_PARAGRAPHS, Item, html_paragraphs, rss

BODY = " ".join(STRIKE_PARAGRAPHS)


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


def _line(n: int, **fields: Any) -> str:
    record = {
        "url": f"https://ledger.example/{n}",
        "title": f"Story {n}",
        "text": f"Body of story {n}.",
        "outlet": "Ledger",
    }
    record.update(fields)
    return json.dumps(record)


def _write_jsonl(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


async def test_every_kind_of_bad_jsonl_record_is_reported_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    bad_records = [
        _line(2, title="Bad \ud800 title"),  # json.dumps writes the escape "\ud800"
        _line(3, text="Body with a lone \udfff surrogate."),
        _line(4, url="https://ledger.example/\ud800"),
        _line(5, outlet="Ledger \udbff"),
        _line(6, published_at="0001-01-01T00:00:00+01:00"),  # overflows when made UTC
        _line(7, published_at="9999-12-31T23:59:00-01:00"),  # overflows the other way
        _line(8, published_at="0001-01-01T00:00:00+00:00"),
        _line(9, published_at="9999-01-01T00:00:00Z"),
        _line(10, title="T" * 100_000),
        _line(11, url="https://ledger.example/" + "a" * 100_000),
        _line(12, text="NUL \u0000 byte"),
        "[" * 100_000 + "]" * 100_000,  # nesting deeper than the JSON parser's recursion
    ]
    path = _write_jsonl(tmp_path / "wire.jsonl", [_line(1), *bad_records, _line(13)])

    result = await gather([path], _settings())

    assert [a.url for a in result.articles] == [
        "https://ledger.example/1",
        "https://ledger.example/13",
    ]
    assert [e.source for e in result.errors] == [path] * len(bad_records)
    assert [e.error for e in result.errors] == [
        "line 2: 'title' holds a lone surrogate ('\\ud800') at character 4, which is not "
        "valid Unicode text; line skipped",
        "line 3: 'text' holds a lone surrogate ('\\udfff') at character 17, which is not "
        "valid Unicode text; line skipped",
        "line 4: 'url' holds a lone surrogate ('\\ud800') at character 23, which is not "
        "valid Unicode text; line skipped",
        "line 5: 'outlet' holds a lone surrogate ('\\udbff') at character 7, which is not "
        "valid Unicode text; line skipped",
        "line 6: 'published_at' is out of range when converted to UTC: "
        "'0001-01-01T00:00:00+01:00'; line skipped",
        "line 7: 'published_at' is out of range when converted to UTC: "
        "'9999-12-31T23:59:00-01:00'; line skipped",
        "line 8: 'published_at' 0001-01-01T00:00:00+00:00 is outside 1900-2099; line skipped",
        "line 9: 'published_at' 9999-01-01T00:00:00+00:00 is outside 1900-2099; line skipped",
        f"line 10: 'title' has 100,000 characters, over the limit of {MAX_TITLE_CHARS:,}; "
        "line skipped",
        f"line 11: 'url' has 100,023 characters, over the limit of {MAX_URL_CHARS:,}; line skipped",
        "line 12: 'text' holds a NUL character at character 4; line skipped",
        "line 13: invalid JSON (nested too deeply); line skipped",
    ]
    # what is kept can be prepared for storage (hashing encodes the text)
    assert [normalize(a).content_hash != "" for a in result.articles] == [True, True]


def _full(title: str, link: str, **fields: Any) -> Item:
    return Item(title, link, content=html_paragraphs(STRIKE_PARAGRAPHS), **fields)


async def test_bad_feed_items_are_reported_by_number_and_the_rest_kept(tmp_path: Path) -> None:
    items = [
        _full("Calder dock strike enters third day", "https://ledger.example/strike"),
        _full("H" * 2_000, "https://ledger.example/long-title"),
        _full("Long link", "https://ledger.example/" + "x" * 9_000),
        _full(
            "Far future",
            "https://ledger.example/future",
            published=datetime(9999, 1, 1, tzinfo=UTC),
        ),
        _full("Strike talks resume", "https://ledger.example/talks"),
    ]
    path = tmp_path / "saved.rss"
    path.write_text(rss(items), encoding="utf-8")

    result = await gather([str(path)], _settings())

    assert [a.url for a in result.articles] == [
        "https://ledger.example/strike",
        "https://ledger.example/talks",
    ]
    assert [(e.source, e.error) for e in result.errors] == [
        (
            str(path),
            "item 2 (https://ledger.example/long-title): 'title' has 2,000 characters, over "
            f"the limit of {MAX_TITLE_CHARS:,}; item skipped",
        ),
        (
            str(path),
            f"item 3 (https://ledger.example/{'x' * 57}…): 'url' has 9,023 characters, over "
            f"the limit of {MAX_URL_CHARS:,}; item skipped",
        ),
        (
            str(path),
            "item 4 (https://ledger.example/future): 'published_at' 9999-01-01T00:00:00+00:00 "
            "is outside 1900-2099; item skipped",
        ),
    ]


async def test_bad_discovery_results_are_reported_and_the_rest_kept(
    http_server: FakeHTTPServer,
) -> None:
    page = http_server.url("/story")
    records = [
        {"url": http_server.url("/bad-title"), "title": "Strike \ud800", "seendate": ""},
        {"url": http_server.url("/bad-date"), "title": "Late", "seendate": "99991231T235959Z"},
        {"url": page, "title": "Calder dock strike enters third day", "seendate": ""},
    ]
    body = json.dumps({"articles": records})  # ASCII with "\ud800" escapes, as GDELT sends
    http_server.route("GET", "/gdelt", Reply(200, body, {"Content-Type": "application/json"}))
    settings = _settings(
        BRIEFBOT_GDELT_URL=http_server.url("/gdelt"),
        BRIEFBOT_DISCOVERY="gdelt",
        BRIEFBOT_FETCH_FULL_TEXT="false",
    )

    result = await discover("calder", settings)

    assert [a.url for a in result.articles] == [page]
    assert [e.error.split(": ", 1)[1] for e in result.errors] == [
        "'title' holds a lone surrogate ('\\ud800') at character 7, which is not valid "
        "Unicode text; item skipped",
        "'published_at' 9999-12-31T23:59:59+00:00 is outside 1900-2099; item skipped",
    ]
    assert all(e.error.startswith("item ") for e in result.errors)
    assert all(e.source.startswith(http_server.url("/gdelt")) for e in result.errors)


def test_an_article_text_over_the_body_cap_is_refused() -> None:
    article = Article(url="https://a.example/x", title="T", text="é" * 600, outlet="A")
    assert article_problem(article, max_text_bytes=1_200) is None
    assert article_problem(article, max_text_bytes=1_199) == (
        "'text' has 1,200 bytes, over the body size cap of 1,199"
    )


def test_a_file_with_a_lone_surrogate_is_stored_all_but_that_line(tmp_path: Path) -> None:
    lines = [
        _line(1, text="Dockworkers at Calder extended their strike into a third day."),
        _line(2, text="Quoted from a broken CMS export \ud83d and cut mid-emoji."),
        _line(3, text="Forty container ships are anchored offshore waiting for a berth."),
    ]
    path = _write_jsonl(tmp_path / "export.jsonl", lines)

    ingest = CliRunner().invoke(app, ["ingest", "--source", path], catch_exceptions=False)
    listed = CliRunner().invoke(app, ["stories", "--format", "json"], catch_exceptions=False)

    assert ingest.exit_code == 0, ingest.stderr
    assert "line 2: 'text' holds a lone surrogate" in ingest.stdout + ingest.stderr
    stored = {a["url"] for s in json.loads(listed.stdout)["stories"] for a in s["articles"]}
    assert stored == {"https://ledger.example/1", "https://ledger.example/3"}
