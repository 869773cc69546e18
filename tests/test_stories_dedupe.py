"""Canonical URLs, wire credits and duplicate detection (wire copies and rewrites)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import Article
from bot.stories.canonical import canonical_url
from bot.stories.dedupe import MAX_POSTINGS, DuplicateIndex
from bot.stories.normalize import normalize
from bot.stories.origins import wire_origins

DEMO = Path(__file__).resolve().parent.parent / "bot" / "demo" / "data"


def demo_texts() -> dict[tuple[str, str], str]:
    """(outlet, title prefix) -> text, from the bundled demo set."""
    texts = {}
    for path in sorted(DEMO.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts[(item["outlet"], item["title"][:30])] = item["text"]
    return texts


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://News.Example.com:443/World/Story/?utm_source=rss&b=2&a=1#comments",
            "https://news.example.com/World/Story?a=1&b=2",
        ),
        ("http://example.com", "http://example.com/"),
        ("https://example.com/a/amp?fbclid=xyz&gclid=1", "https://example.com/a"),
        ("http://127.0.0.1:8080/articles/x.html", "http://127.0.0.1:8080/articles/x.html"),
        ("https://example.com/story?id=7&mc_cid=1&ocid=rss", "https://example.com/story?id=7"),
        ("file:///tmp/feed.xml", "file:///tmp/feed.xml"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LONDON (Reuters) - The pound fell on Monday.", ("Reuters",)),
        ("WASHINGTON, March 3 (Reuters) - Lawmakers met.", ("Reuters",)),
        ("(AP) — A storm hit the coast overnight.", ("AP",)),
        ("PORT HALVERN (Meridian Wire) — Dockworkers walked out.", ("Meridian Wire",)),
        ("The plan, according to the Associated Press, was shelved.", ("AP",)),
        ("Prices rose.\n\nSources: Reuters, AFP", ("Reuters", "AFP")),
        ("Talks resumed.\n\nReporting by Jane Doe; Editing by John Roe", ("Reuters",)),
        ("Rain fell. The Associated Press contributed to this report.", ("AP",)),
    ],
)
def test_wire_credits_are_found(text: str, expected: tuple[str, ...]) -> None:
    assert wire_origins(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Reuters announced a new editor-in-chief on Monday.",
        "Mayor Ilse Brandt (pictured) — who took office in May — opened the bridge.",
        "A poll by the agency found support at 40 percent.",
    ],
)
def test_stories_about_agencies_are_not_credits(text: str) -> None:
    assert wire_origins(text) == ()


def test_normalize_sets_canonical_url_hash_and_origins() -> None:
    article = Article(
        url="https://Example.com/a?utm_medium=rss",
        title="t",
        text="OSLO (Reuters) - Snow fell across the north on Tuesday.",
        outlet="Example",
    )
    normal = normalize(article)
    assert normal.url == "https://example.com/a"
    assert normal.original_url == "https://Example.com/a?utm_medium=rss"
    assert normal.origins == ("Reuters",)
    assert len(normal.content_hash) == 64


def test_identical_wire_copy_is_an_exact_duplicate() -> None:
    texts = demo_texts()
    wire = texts[("Meridian Wire", "Halvern dockworkers strike ove")]
    copy = texts[("The Coastal Ledger", "Halvern dockworkers strike ove")]
    index = DuplicateIndex()
    index.add(1, wire)
    match = index.find(copy)
    assert match is not None
    assert (match.key, match.kind) == (1, "exact")


def test_trimmed_copy_is_a_near_duplicate() -> None:
    texts = demo_texts()
    wire = texts[("Meridian Wire", "Halvern dockworkers strike ove")]
    paragraphs = wire.split("\n\n")
    trimmed = "\n\n".join(paragraphs[:-2]).replace(
        "early on Monday", "in the early hours of Monday"
    )
    index = DuplicateIndex()
    index.add(1, wire)
    match = index.find(trimmed)
    assert match is not None
    assert match.kind == "near"
    assert match.containment > 0.9


def test_rewrite_sharing_quotes_is_found_although_few_sentences_match() -> None:
    texts = demo_texts()
    wire = texts[("Meridian Wire", "Halvern dockworkers strike ove")]
    rewrite = texts[("Dunmarrow Herald", "Halvern port walkout leaves sh")]
    index = DuplicateIndex()
    index.add(1, wire)
    match = index.find(rewrite)
    assert match is not None
    assert match.kind == "rewrite"
    assert match.shared_sentences <= 2  # whole-sentence matching alone would miss it


def test_independent_reports_of_the_same_event_are_not_duplicates() -> None:
    texts = demo_texts()
    wire_day2 = texts[("Meridian Wire", "Halvern strike widens as tug c")]
    vbc_day2 = texts[("VBC News", "Government names mediator as H")]
    index = DuplicateIndex()
    index.add(1, wire_day2)
    assert index.find(vbc_day2) is None


def test_teasers_only_match_exactly() -> None:
    index = DuplicateIndex()
    index.add(1, "Dockworkers at Halvern walked out on Monday over automated cranes.")
    assert index.find("Dockworkers at Halvern walked out on Monday over new cranes.") is None


def test_boilerplate_sentences_are_ignored_once_too_common() -> None:
    boiler = "Sign up to our morning newsletter to get the latest regional headlines daily."
    index = DuplicateIndex()
    for key in range(MAX_POSTINGS + 5):
        index.add(key, f"{boiler} Unrelated report number {key} about topic {key * 7}.")
    fresh = f"{boiler} {boiler} {boiler} A fresh report about something else entirely."
    match = index.find(fresh)
    assert match is None or match.kind != "near"


def test_removed_texts_are_no_longer_found_and_capacity_is_bounded() -> None:
    texts = demo_texts()
    wire = texts[("Meridian Wire", "Halvern dockworkers strike ove")]
    index = DuplicateIndex(capacity=2)
    index.add(1, wire)
    index.add(2, texts[("VBC News", "Government names mediator as H")])
    index.add(3, texts[("Meridian Wire", "Corroded valve blamed for Tarr")])
    assert len(index) == 2
    assert index.find(wire) is None  # the oldest text was evicted


def test_texts_older_than_the_window_are_forgotten() -> None:
    texts = demo_texts()
    wire = texts[("Meridian Wire", "Halvern dockworkers strike ove")]
    copy = texts[("The Coastal Ledger", "Halvern dockworkers strike ove")]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    index = DuplicateIndex(window=timedelta(days=7))
    index.add(1, wire, start)
    index.add(
        2,
        "An unrelated text about a harvest festival in a mountain town.",
        start + timedelta(days=6),
    )
    assert index.find(copy) is not None
    index.add(
        3, "Another unrelated text about tram timetables and bus lanes.", start + timedelta(days=8)
    )
    assert index.find(copy) is None
    assert len(index) == 2
