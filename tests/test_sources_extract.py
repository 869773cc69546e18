"""Article text as readers see it: sub-headings, captions and links out of the sentences.

The text flows trafilatura -> our cleaning -> ``split_sentences`` -> key points; these tests
read the sentences at the end of that flow for a page in the shape publishers emit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import Article, Story
from bot.sources.extract import extract_page, html_to_text, without_urls
from bot.summarize.extractive import brief_story
from bot.text import split_sentences
from tests.fakes.news import fixture_bytes

URL = "https://harborledger.example/2026/11/20/calder-strike-walkout-warning"

SENTENCES = [
    "Dockworkers at the port of Calder extended their strike into a third day on Wednesday, "
    "with more than forty container ships now anchored offshore waiting for a berth.",
    "The union rejected a pay offer of six percent over two years and is demanding job "
    "guarantees as automated cranes arrive at the north terminal, according to a statement "
    "posted on its website.",
    "According to Reuters, the union's general secretary told members on Tuesday night that "
    "the walkout could last into next month if the port authority did not return to talks.",
    "Full details of the rejected offer were published and a revised proposal is expected on "
    "Friday.",
    "Shipping lines have begun diverting cargo to Northgate, where officials said the terminal "
    "could absorb about a fifth of Calder's usual volume for a few weeks.",
    "Shop owners warned that shelves could run short of imported goods before the holiday "
    "season if the dispute dragged on into December.",
    "The port authority said it would meet union officials on Thursday morning, the first "
    "direct talks since the strike began on Monday.",
    "CALDER \u2014 Harbour pilots said they would keep guiding ships to anchorages outside the "
    "breakwater for as long as the strike lasted.",
]


def _page_sentences() -> list[str]:
    page = extract_page(
        fixture_bytes("harbor_ledger_strike_sections.html"),
        url=URL,
        content_type="text/html",
        charset="utf-8",
    )
    return split_sentences(page.text)


def test_page_sentences_have_no_headings_captions_or_dangling_links() -> None:
    assert _page_sentences() == SENTENCES


def test_feed_content_with_the_same_markup_gives_the_same_sentences() -> None:
    html = fixture_bytes("harbor_ledger_strike_sections.html").decode()
    body = html[html.index('<div class="article-body">') : html.index("</article>")]
    assert split_sentences(html_to_text(body, prose=True)) == SENTENCES


def test_a_heading_that_is_a_sentence_stays_and_one_that_is_not_goes() -> None:
    standfirst = "Dockworkers rejected a six percent pay offer as ships waited offshore."
    html = f"<h2>{standfirst}</h2><h3>Direct warning</h3><p>{SENTENCES[0]}</p>"
    assert split_sentences(html_to_text(html, prose=True)) == [standfirst, SENTENCES[0]]


def test_titles_and_names_are_not_treated_as_prose() -> None:
    assert html_to_text("<h2>Direct warning</h2>") == "Direct warning"
    assert html_to_text("<h2>Direct warning</h2>", prose=True) == "Direct warning"  # all it has


def test_key_points_are_whole_sentences_of_the_page() -> None:
    text = "\n\n".join(_page_sentences())
    article = Article(url=URL, title="Calder port strike", text=text, outlet="The Harbor Ledger")
    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    story = Story(id="s1", title="Calder port strike", created_at=now, updated_at=now)
    briefing = brief_story(story, [article])
    assert briefing.key_points
    assert all(point.text in SENTENCES for point in briefing.key_points)


def test_a_url_is_removed_only_with_what_points_at_it() -> None:
    assert without_urls("Read the statement posted on its site at www.union.example/s.") == (
        "Read the statement posted on its site."
    )
    assert without_urls("Capacity (see https://port.example/capacity) is limited.") == (
        "Capacity is limited."
    )
    # the sentence cannot do without its URL: it stays whole rather than "details are and more"
    kept = "Full details are at https://port.example/offer and more will follow."
    assert without_urls(kept) == kept
    assert without_urls("Visit https://port.example for updates.") == (
        "Visit https://port.example for updates."
    )
