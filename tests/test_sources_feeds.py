"""Feed parsing: RSS/Atom items, teasers, bad feeds and charsets (no network)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import SourceFormatError
from bot.sources.charset import decode_xml
from bot.sources.extract import html_to_text
from bot.sources.feeds import TEASER_WORDS, FeedItem, is_teaser, parse_feed
from tests.fakes.news import (
    FLOOD_PARAGRAPHS,
    STRIKE_PARAGRAPHS,
    Item,
    atom,
    fixture_bytes,
    html_paragraphs,
    rss,
    teaser,
)

WHEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
SRC = "https://harborledger.example/world/rss.xml"


def _parse(document: str | bytes) -> list[FeedItem]:
    body = document.encode("utf-8") if isinstance(document, str) else document
    return parse_feed(body, source=SRC).items


def test_rss_item_with_full_content_encoded_is_full_text() -> None:
    parsed = parse_feed(fixture_bytes("harbor_ledger_world.rss"), source=SRC)
    first = parsed.items[0]
    assert first.link == "https://harborledger.example/2026/11/20/calder-port-strike-third-day"
    assert first.title == "Calder dock strike enters third day as ships queue offshore"
    assert first.is_teaser is False
    assert first.text.split("\n\n") == STRIKE_PARAGRAPHS
    assert first.published_at == WHEN
    assert first.language == "en"
    assert parsed.problems == []


def test_atom_entries_with_html_content_become_plain_text() -> None:
    document = atom(
        [
            Item(
                "Floods: 300 homes evacuated &amp; more rain due",
                "https://northgate.example/news/aire-flood",
                content=html_paragraphs(FLOOD_PARAGRAPHS),
                published=WHEN,
            )
        ]
    )
    (item,) = parse_feed(document.encode(), source=SRC).items
    assert item.title == "Floods: 300 homes evacuated & more rain due"
    assert item.text.split("\n\n") == FLOOD_PARAGRAPHS
    assert "<p>" not in item.text
    assert item.published_at == WHEN
    assert item.is_teaser is False


def test_html_summary_is_converted_to_plain_text() -> None:
    html = (
        "<p>Dock workers <b>extended</b> their strike &ndash; talks broke down.</p>"
        "<script>alert('x')</script><p>Ships wait&nbsp;offshore.<br>More below.</p>"
    )
    assert html_to_text(html) == (
        "Dock workers extended their strike – talks broke down.\n\nShips wait offshore.\n\n"
        "More below."
    )


@pytest.mark.parametrize(
    "ending",
    [
        "\u2026",
        "...",
        " [\u2026]",
        " [...]",
        " Read more",
        " Continue reading \u2192",
        " (more\u2026)",
    ],
)
def test_long_text_ending_like_an_excerpt_is_a_teaser(ending: str) -> None:
    long_text = " ".join(STRIKE_PARAGRAPHS)
    assert len(long_text.split()) > TEASER_WORDS
    assert is_teaser(long_text + ending)
    assert not is_teaser(long_text)


def test_short_text_is_a_teaser_and_long_text_is_not() -> None:
    words = " ".join(STRIKE_PARAGRAPHS).split()
    assert is_teaser(" ".join(words[: TEASER_WORDS - 1]) + ".")
    assert not is_teaser(" ".join(words[:TEASER_WORDS]) + ".")


def test_teaser_with_read_more_link_is_flagged() -> None:
    description = teaser(STRIKE_PARAGRAPHS, words=40) + '<p><a href="/x">Read more</a></p>'
    (item,) = _parse(rss([Item("Strike", "https://harborledger.example/a", description)]))
    assert item.is_teaser
    assert item.text.endswith("Read more")


def test_google_news_item_outlet_comes_from_source_element_and_title_loses_suffix() -> None:
    body = fixture_bytes("google_news_search.rss").replace(b"__BASE__", b"https://news.example")
    first = parse_feed(body, source=SRC).items[0]
    assert first.outlet == "The Harbor Ledger"
    assert first.title == "Calder dock strike enters third day as ships queue offshore"
    assert first.text == first.title  # the description only repeats headline and outlet
    assert first.is_teaser
    assert first.link.startswith("https://news.example/rss/articles/CBMi")


def test_duplicate_items_are_kept_once_and_counted() -> None:
    items = [
        Item("Strike day three", "https://harborledger.example/a", "<p>a</p>", guid="g1"),
        Item("Strike day three (updated)", "https://harborledger.example/a", "<p>b</p>", guid="g2"),
        Item("Same guid, new link", "https://harborledger.example/b", "<p>c</p>", guid="g1"),
        Item("Flood", "https://harborledger.example/c", "<p>d</p>", guid="g3"),
    ]
    parsed = parse_feed(rss(items).encode(), source=SRC)
    assert [i.link for i in parsed.items] == [
        "https://harborledger.example/a",
        "https://harborledger.example/c",
    ]
    assert parsed.problems == [
        "skipped 2 duplicate items (same link or guid as an earlier item in the feed)"
    ]


def test_items_without_links_are_skipped_and_reported() -> None:
    items = [
        Item("No link at all", None, "<p>a</p>"),
        Item("Script link", "javascript:alert(1)", "<p>b</p>"),
        Item("Good", "https://harborledger.example/good", "<p>c</p>"),
    ]
    parsed = parse_feed(rss(items).encode(), source=SRC)
    assert [i.title for i in parsed.items] == ["Good"]
    assert parsed.problems == ["skipped 2 items without a usable http(s) link"]


def test_relative_links_resolve_against_the_feed_url() -> None:
    items = [Item("Relative", "/2026/11/20/relative-story", "<p>x</p>")]
    (item,) = parse_feed(rss(items).encode(), source=SRC, base_url=SRC).items
    assert item.link == "https://harborledger.example/2026/11/20/relative-story"


def test_item_without_a_date_is_kept_with_no_date() -> None:
    (item,) = _parse(rss([Item("Undated", "https://harborledger.example/u", "<p>x</p>")]))
    assert item.published_at is None


def test_html_page_at_feed_url_is_refused_with_a_clear_message() -> None:
    page = b"<!DOCTYPE html>\n<html lang='en'><head><title>Harbor Ledger</title></head></html>"
    with pytest.raises(SourceFormatError, match="expected an RSS or Atom feed, got an HTML page"):
        parse_feed(page, source=SRC)


def test_xml_that_is_not_a_feed_names_its_root_element() -> None:
    sitemap = b'<?xml version="1.0"?><urlset><url><loc>https://a.example/</loc></url></urlset>'
    with pytest.raises(SourceFormatError, match="got an XML document with root <urlset>"):
        parse_feed(sitemap, source=SRC)


def test_empty_feed_reports_no_items() -> None:
    with pytest.raises(SourceFormatError, match=r"^feed has no items$"):
        parse_feed(rss([]).encode(), source=SRC)


def test_malformed_xml_without_items_is_an_error() -> None:
    with pytest.raises(SourceFormatError, match=r"malformed XML .* no items could be recovered"):
        parse_feed(b'<rss version="2.0"><channel><title>x</title><<<>>> ]]></', source=SRC)


def test_truncated_feed_keeps_recovered_items_and_logs_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = rss(
        [
            Item("First", "https://harborledger.example/1", "<p>one</p>"),
            Item("Second", "https://harborledger.example/2", "<p>two</p>"),
        ]
    )
    cut = document[: document.index("<item>", document.index("</item>"))] + "<item><title>Thi"
    with caplog.at_level(logging.WARNING, logger="bot.sources.feeds"):
        parsed = parse_feed(cut.encode(), source=SRC)
    assert [i.title for i in parsed.items] == ["First"]
    assert parsed.problems == ["skipped 1 item without a usable http(s) link"]
    assert "malformed XML" in caplog.text
    assert "kept 1 item that could be read" in caplog.text


def test_unescaped_ampersand_in_title_is_read_as_written() -> None:
    document = rss([Item("placeholder", "https://harborledger.example/qa", "<p>x</p>")])
    document = document.replace("placeholder", "Q&A: the strike explained")
    (item,) = _parse(document)
    assert item.title == "Q&A: the strike explained"


FRENCH = "Grève à Calder : les dockers rejettent l'offre, « inacceptable » selon le syndicat"


@pytest.mark.parametrize("declared", ["UTF-8", None])
def test_latin1_feed_mislabelled_or_unlabelled_decodes_without_mojibake(
    declared: str | None,
) -> None:
    document = rss(
        [Item(FRENCH, "https://ledger.example/fr", "<p>Grève générale</p>")],
        title="Le Courrier de Calder",
        language="fr",
        encoding=declared,
    )
    (item,) = parse_feed(document.encode("latin-1"), source=SRC, header_charset=declared).items
    assert item.title == FRENCH
    assert item.text == "Grève générale"


def test_spanish_latin1_feed_is_not_read_as_central_european() -> None:
    title = "El niño y la señora: España espera lluvias en La Coruña"
    document = rss([Item(title, "https://diario.example/a", "<p>x</p>")], encoding=None)
    (item,) = _parse(document.encode("cp1252"))
    assert item.title == title


def test_utf8_feed_labelled_latin1_is_read_as_utf8() -> None:
    document = rss([Item(FRENCH, "https://ledger.example/fr", "<p>x</p>")], encoding="ISO-8859-1")
    (item,) = parse_feed(document.encode("utf-8"), source=SRC, header_charset="iso-8859-1").items
    assert item.title == FRENCH


def test_http_charset_wins_over_a_wrong_xml_declaration() -> None:
    title = "Москва: переговоры продолжаются"
    document = rss([Item(title, "https://ru.example/a", "<p>x</p>")], encoding="ISO-8859-1")
    body = document.encode("windows-1251")
    (item,) = parse_feed(body, source=SRC, header_charset="windows-1251").items
    assert item.title == title


def test_utf16_label_on_utf8_bytes_is_ignored() -> None:
    document = rss([Item(FRENCH, "https://ledger.example/fr", "<p>x</p>")], encoding="UTF-16")
    (item,) = parse_feed(document.encode("utf-8"), source=SRC, header_charset="utf-16").items
    assert item.title == FRENCH


def test_byte_order_mark_decides_the_encoding() -> None:
    document = rss([Item(FRENCH, "https://ledger.example/fr", "<p>x</p>")], encoding="UTF-8")
    assert decode_xml(b"\xef\xbb\xbf" + document.encode("utf-8"), "latin-1").startswith("<?xml")
    body = document.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    (item,) = parse_feed(body, source=SRC).items
    assert item.title == FRENCH


def test_feed_body_that_names_a_file_is_parsed_as_text_not_opened(tmp_path: Path) -> None:
    real_feed = tmp_path / "feed.xml"
    real_feed.write_bytes(fixture_bytes("harbor_ledger_world.rss"))
    with pytest.raises(SourceFormatError, match="got text that is not XML"):
        parse_feed(str(real_feed).encode(), source=SRC)
