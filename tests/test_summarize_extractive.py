"""The offline extractive briefer on a realistic multi-outlet story."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from bot.domain import Article, StoryBriefing
from bot.errors import SummarizerError
from bot.summarize.align import best_support, source_sentences
from bot.summarize.extractive import brief_story, clean_title, sentence_quality
from bot.text import fold
from tests.fakes.summarize import port_strike_articles, port_strike_story


@pytest.fixture(scope="module")
def briefing() -> StoryBriefing:
    return brief_story(port_strike_story(), port_strike_articles())


def _source_id(briefing: StoryBriefing, outlet: str) -> int:
    return next(s.id for s in briefing.sources if s.outlet == outlet)


def _point(briefing: StoryBriefing, fragment: str) -> list[int]:
    matches = [p for p in briefing.key_points if fragment in p.text]
    assert len(matches) == 1, f"expected one key point containing {fragment!r}"
    return matches[0].sources


def test_briefing_has_three_to_six_key_points_each_citing_existing_sources(
    briefing: StoryBriefing,
) -> None:
    ids = {s.id for s in briefing.sources}

    assert 3 <= len(briefing.key_points) <= 6
    for point in briefing.key_points:
        assert point.sources, point
        assert set(point.sources) <= ids
        assert point.sources == sorted(set(point.sources))


def test_key_points_are_source_sentences_from_the_articles(briefing: StoryBriefing) -> None:
    all_sentences = {s for a in port_strike_articles() for s in source_sentences(a.text)}

    for point in briefing.key_points:
        assert point.text in all_sentences


def test_a_key_point_cites_every_source_that_carries_it(briefing: StoryBriefing) -> None:
    articles = port_strike_articles()
    number = {s.article_id: s.id for s in briefing.sources}

    for point in briefing.key_points:
        # Sources carrying the sentence word for word must all be cited (copies included).
        verbatim = {number[a.id] for a in articles if point.text in a.text}
        assert verbatim <= set(point.sources), point.text
        # And every cited source really reports it.
        for article in articles:
            if number[article.id] in point.sources:
                assert best_support(point.text, article.text).supported, (
                    point.text,
                    article.outlet,
                )


def test_a_quote_shared_by_a_rewrite_cites_the_wire_its_copies_and_the_rewrite(
    briefing: StoryBriefing,
) -> None:
    quote = "We have been patient for 18 months"
    carriers = sorted(
        s.id
        for s, a in zip(briefing.sources, _chronological(port_strike_articles()), strict=True)
        if quote in a.text
    )

    assert len(carriers) == 4
    assert _point(briefing, quote) == carriers
    assert _source_id(briefing, "Harbor Times") in carriers


def test_a_claim_made_by_one_outlet_cites_only_that_outlet(briefing: StoryBriefing) -> None:
    assert _point(briefing, "Kestrel Lines") == [_source_id(briefing, "Valley Post")]


def test_the_syndicated_and_wire_crediting_copies_count_once_in_coverage(
    briefing: StoryBriefing,
) -> None:
    coverage = briefing.coverage

    assert coverage.articles == 6
    assert coverage.outlets == 6
    # Meridian Wire + its copies (Coastal, Northport, Evening Courier), Harbor Times, Valley Post
    assert coverage.independent_reports == 3


def test_sources_are_numbered_chronologically_with_copy_links_and_origins(
    briefing: StoryBriefing,
) -> None:
    sources = briefing.sources
    wire = _source_id(briefing, "Meridian Wire")
    coastal = next(s for s in sources if s.outlet == "Coastal Daily Record")
    northport = next(s for s in sources if s.outlet == "Northport Gazette")

    assert [s.id for s in sources] == list(range(1, 7))
    times = [s.published_at for s in sources]
    assert times == sorted(t for t in times if t is not None)
    assert coastal.copy_of == wire
    assert northport.copy_of is None  # dedupe did not link it; it only credits the wire
    assert northport.origins == ("Meridian Wire",)
    assert {s.article_id for s in sources} == {a.id for a in port_strike_articles()}
    assert [s.full_text for s in sources].count(False) == 1
    assert coastal.title == "Halvern dockworkers strike over pay, halting cargo"


def test_title_is_a_representative_headline(briefing: StoryBriefing) -> None:
    titles = {clean_title(a.title, a.outlet) for a in port_strike_articles()}

    assert briefing.title in titles
    assert "Ostrava" not in briefing.title  # a one-outlet angle is not the story's headline


def test_no_boilerplate_questions_or_datelines_in_key_points(briefing: StoryBriefing) -> None:
    for point in briefing.key_points:
        text = fold(point.text)
        assert "newsletter" not in text
        assert "reporting by" not in text
        assert "all rights reserved" not in text
        assert not point.text.startswith(("HALVERN", "By "))
        assert "?" not in point.text


def test_key_points_do_not_repeat_each_other(briefing: StoryBriefing) -> None:
    offers = [p for p in briefing.key_points if "4% pay rise" in p.text]
    leads = [p for p in briefing.key_points if "Monday" in p.text and "strike" in p.text.lower()]

    assert len(offers) <= 1
    assert len(leads) <= 2
    assert len({p.text for p in briefing.key_points}) == len(briefing.key_points)


def test_shuffled_input_gives_identical_output(briefing: StoryBriefing) -> None:
    rng = random.Random(20250303)
    for _ in range(5):
        articles = port_strike_articles()
        rng.shuffle(articles)
        assert brief_story(port_strike_story(), articles) == briefing


def test_max_points_limits_the_key_points() -> None:
    briefing = brief_story(port_strike_story(), port_strike_articles(), max_points=3)

    assert len(briefing.key_points) == 3


def test_a_teaser_only_source_is_noted(briefing: StoryBriefing) -> None:
    assert any("teaser" in note for note in briefing.notes)


def test_updated_at_is_the_newest_article_or_the_story_time(briefing: StoryBriefing) -> None:
    articles = port_strike_articles()

    assert briefing.updated_at == max(a.when for a in articles)
    assert briefing.story_id == port_strike_story().id


def test_the_same_article_given_twice_is_one_source() -> None:
    articles = port_strike_articles()

    doubled = brief_story(port_strike_story(), [*articles, articles[3]])

    assert len(doubled.sources) == len(articles)


def _teasers(pairs: list[tuple[str, str]]) -> list[Article]:
    start = port_strike_articles()[0].when
    return [
        Article(
            url=f"https://news{i}.example/halvern",
            title=title,
            text=text,
            outlet=f"Outlet {i}",
            published_at=start + timedelta(hours=i),
            full_text=False,
            id=500 + i,
        )
        for i, (title, text) in enumerate(pairs)
    ]


def test_a_story_of_short_teasers_falls_back_to_shorter_sentences() -> None:
    teasers = _teasers(
        [
            ("Halvern port strike enters second day", "Strike at Halvern port continues"),
            ("Halvern dockworkers stay out", "Dockworkers at Halvern stay off the job"),
        ]
    )

    briefing = brief_story(port_strike_story(), teasers)

    assert [(p.text, p.sources) for p in briefing.key_points] == [
        ("Strike at Halvern port continues", [1]),
        ("Dockworkers at Halvern stay off the job", [2]),
    ]
    assert any("teaser" in note for note in briefing.notes)
    assert any("Only 2 key points" in note for note in briefing.notes)


def test_a_story_with_headlines_only_uses_the_headlines_as_key_points() -> None:
    teasers = _teasers(
        [
            ("Halvern port strike enters second day", ""),
            ("Halvern port strike enters second day - Outlet 1", "Sign up for our newsletter."),
            ("Ships queue outside Halvern as dockworkers strike", ""),
        ]
    )

    briefing = brief_story(port_strike_story(), teasers)

    assert [(p.text, p.sources) for p in briefing.key_points] == [
        ("Halvern port strike enters second day", [1, 2]),
        ("Ships queue outside Halvern as dockworkers strike", [3]),
    ]


def test_a_story_without_articles_is_an_error() -> None:
    with pytest.raises(SummarizerError, match="no articles"):
        brief_story(port_strike_story(), [])


@pytest.mark.parametrize(
    ("sentence", "usable"),
    [
        ("The union said about 3,200 of its members joined the strike on Monday.", True),
        ("Will the strike spread to other ports along the coast this week?", False),
        ("Strike!", False),
        ("Read the full story at https://example.org/halvern for more details today.", False),
        ('"We have been patient for 18 months, and the port authority', False),
        ("and then the union said that its members would return on Thursday.", False),
    ],
)
def test_sentence_quality_rejects_poor_key_point_sentences(sentence: str, usable: bool) -> None:
    assert (sentence_quality(sentence) > 0) is usable


def test_a_sentence_leaning_on_context_scores_lower() -> None:
    plain = "The union said about 3,200 of its members joined the strike on Monday."
    anaphoric = "He said about 3,200 of its members joined the strike on Monday morning."

    assert sentence_quality(anaphoric) < sentence_quality(plain)


def _chronological(articles: list[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: (a.when, a.url))


def test_a_syndicated_copy_published_first_still_links_to_its_original() -> None:
    articles = port_strike_articles()
    # The copy's feed is read first and claims an earlier time than the wire.
    articles[1] = dataclasses.replace(
        articles[1], published_at=articles[0].when - timedelta(hours=1)
    )

    briefing = brief_story(port_strike_story(), articles)

    copy = next(s for s in briefing.sources if s.outlet == "Coastal Daily Record")
    wire = next(s for s in briefing.sources if s.outlet == "Meridian Wire")
    assert copy.id == 1
    assert copy.copy_of == wire.id == 2
    assert briefing.coverage.independent_reports == 3


def test_a_quote_attributed_only_to_a_pronoun_is_a_weaker_key_point() -> None:
    from bot.summarize.extractive import sentence_quality

    anonymous = "“The government will not stand by while the main port stays shut,” she said."
    named = "“The government will not stand by while the main port stays shut,” Elin Marsk said."
    assert sentence_quality(anonymous) < sentence_quality(named)
